// A session id that rotates (login: regenerate) or ends (logout: destroy) has its CSRF tokens
// revoked in the background. When that revoke fails (here the CSRF store is closed between the
// token check and the rotation, so every call is UNAVAILABLE), the failure reaches
// `onStoreError` as `csrf` with the request's method and path, and the request still succeeds:
// the tokens expire anyway. Express with express-session, Fastify with @fastify/session.
import { setTimeout as sleep } from 'node:timers/promises';
import cookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import type { StowageError } from '@stowage/core';
import { StowageSessionStore } from '@stowage/express-session';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import express from 'express';
import session from 'express-session';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csrf as expressCsrf, type ExpressRequest } from '../src/express.js';
import { csrf as fastifyCsrf } from '../src/fastify.js';
import { listenFastify } from './fastify-app.js';
import { headerOf, listen, type Running, send } from './http.js';

interface Reported {
  middleware: string;
  code: string;
  method: string;
  path: string;
}

type Tokens = ReturnType<StoreSet['csrf']>;

/** An app whose `/login` regenerates and `/logout` destroys the session, after closing `tokens`. */
type Make = (set: StoreSet, tokens: Tokens, reported: Reported[]) => Promise<Running>;

const onStoreError = (reported: Reported[]) => (error: StowageError, ctx: { middleware: string; method: string; path: string }) =>
  void reported.push({ middleware: ctx.middleware, code: error.code, method: ctx.method, path: ctx.path });

const makeExpress: Make = async (_set, tokens, reported) => {
  const a = express();
  a.use(session({ secret: 'test secret of some length', resave: false, saveUninitialized: false }));
  a.use(expressCsrf({ store: tokens, onStoreError: onStoreError(reported) }));
  a.get('/form', async (req: ExpressRequest, res) => void res.json({ token: await req.csrfToken!(), sid: req.sessionID }));
  a.post('/login', async (req, res, next) => {
    await tokens.close(); // the token was checked; from here on the CSRF store is down
    req.session.regenerate((err) => (err ? next(err) : res.json({ sid: req.sessionID })));
  });
  a.post('/logout', async (req, res, next) => {
    await tokens.close();
    req.session.destroy((err) => (err ? next(err) : res.json({ ok: true })));
  });
  return listen(a);
};

const makeFastify: Make = async (set, tokens, reported) => {
  const app = Fastify({ forceCloseConnections: true });
  await app.register(cookie);
  await app.register(fastifySession, {
    store: new StowageSessionStore({ store: set.sessions() }) as never,
    secret: 'a secret with minimum length of 32 characters',
    saveUninitialized: false,
    cookie: { maxAge: 60_000, secure: false },
  });
  await app.register(fastifyCsrf, { store: tokens, onStoreError: onStoreError(reported) });
  app.get('/form', async (request) => ({ token: await request.csrfToken(), sid: request.session.sessionId }));
  app.post('/login', async (request) => {
    await tokens.close();
    await request.session.regenerate();
    request.session.set('user' as never, 'ada' as never);
    return { sid: request.session.sessionId };
  });
  app.post('/logout', async (request) => {
    await tokens.close();
    await request.session.destroy();
    return { ok: true };
  });
  return listenFastify(app);
};

/** Waits for the background revoke to be reported (or gives up after 2 s and lets the assertion say so). */
async function settled(reported: Reported[]): Promise<Reported[]> {
  for (let i = 0; i < 40 && reported.length === 0; i++) await sleep(50);
  await sleep(50); // and a little more, so a second report would be seen
  return reported;
}

await describeStoreBackends((backend) => {
  let set: StoreSet;
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
  });
  afterAll(() => set.close());

  for (const [framework, make] of [
    ['express', makeExpress],
    ['fastify', makeFastify],
  ] as const) {
    describe(framework, () => {
      for (const [path, rotation] of [
        ['/login', 'regenerate'],
        ['/logout', 'destroy'],
      ] as const) {
        it(`${rotation}: a revoke the closed store refuses is reported as csrf UNAVAILABLE; the request succeeds`, async () => {
          const tokens = set.csrf();
          const reported: Reported[] = [];
          const app = await make(set, tokens, reported);
          try {
            const form = await send(`${app.url}/form`);
            expect(form.status).toBe(200);
            const { token, sid } = JSON.parse(form.body.toString()) as { token: string; sid: string };
            const sessionCookie = headerOf(form, 'set-cookie')!.split(';')[0]!;
            const done = await send(`${app.url}${path}`, { method: 'POST', headers: { cookie: sessionCookie, 'x-csrf-token': token } });
            expect(done.status).toBe(200);
            if (path === '/login') expect((JSON.parse(done.body.toString()) as { sid: string }).sid).not.toBe(sid);
            expect(await settled(reported)).toEqual([{ middleware: 'csrf', code: 'UNAVAILABLE', method: 'POST', path }]);
          } finally {
            await app.close();
          }
        });
      }
    });
  }
});
