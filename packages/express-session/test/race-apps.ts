import type { AddressInfo } from 'node:net';
import cookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import express from 'express';
import session from 'express-session';
import Fastify from 'fastify';
import type { StowageSessionStore } from '../src/index.js';
import type { RunningApp } from './apps.js';
import type { Gates } from '@stowage/test-stores';

/**
 * The same app on express-session and on @fastify/session, for races: a handler that takes
 * `?gate=` (or `?first=` / `?second=`) waits there after its session loaded, until the test
 * opens the gate. Routes:
 * - `POST /login {user}` regenerates and saves; `POST /logout` destroys.
 * - `GET /state` answers the session's data (without its cookie), or `{ has: false }`.
 * - `POST /put {fields}` assigns `fields` to the session (saved at the end of the request).
 * - `POST /put-twice {first, second}` assigns and saves `first`, waits at `?second=`, then
 *   assigns and saves `second`: two saves in one request.
 * - `POST /rotate` regenerates the id, keeping `user`.
 * - `POST /circular` stores a circular object in the session and saves.
 * The code (or name) of every error that reaches the framework's error handling is pushed to
 * `errors`, including errors express-session reports after the response was sent.
 */
export type RaceApp = (store: StowageSessionStore, gates: Gates, errors?: string[]) => Promise<RunningApp>;

type Fields = Record<string, unknown>;
const stateOf = (s: object | undefined | null): { has: boolean; data?: Fields } => {
  if (s === undefined || s === null) return { has: false };
  const { cookie: _cookie, ...data } = JSON.parse(JSON.stringify(s)) as Fields;
  return { has: true, data };
};
const gateOf = (query: unknown, name = 'gate'): string | undefined => (query as Record<string, string | undefined>)[name];
const loop = (): Fields => {
  const o: Fields = {};
  o['self'] = o;
  return o;
};

const codeOf = (err: Error & { code?: string }): string => err.code ?? err.name;

export const expressRaceApp: RaceApp = async (store, gates, errors = []) => {
  const app = express();
  app.use(express.json());
  app.use(session({ store, secret: 'test secret of some length', resave: false, saveUninitialized: false, cookie: { maxAge: 60_000 } }));
  const data = (req: express.Request) => req.session as unknown as Fields;
  const save = (req: express.Request) => new Promise<void>((ok, fail) => req.session.save((e) => (e ? fail(e) : ok())));
  const pass = async (req: express.Request, name = 'gate') => {
    const gate = gateOf(req.query, name);
    if (gate !== undefined) await gates.pass(gate);
  };

  app.post('/login', (req, res, next) => {
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.user = String(req.body.user);
      req.session.save((e) => (e ? next(e) : res.json({ ok: true })));
    });
  });
  app.post('/logout', (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.json({ ok: true }))));
  app.get('/state', async (req, res) => {
    await pass(req);
    res.json(stateOf(req.session));
  });
  app.post('/put', async (req, res) => {
    await pass(req);
    Object.assign(data(req), req.body.fields);
    res.json({ ok: true });
  });
  app.post('/put-twice', async (req, res) => {
    await pass(req, 'first');
    Object.assign(data(req), req.body.first);
    await save(req);
    await pass(req, 'second');
    Object.assign(data(req), req.body.second);
    await save(req);
    res.json({ ok: true });
  });
  app.post('/rotate', async (req, res) => {
    await pass(req);
    const user = req.session.user;
    await new Promise<void>((ok, fail) => req.session.regenerate((e) => (e ? fail(e) : ok())));
    if (user !== undefined) req.session.user = user;
    await save(req);
    res.json({ ok: true });
  });
  app.post('/circular', (req, res, next) => {
    data(req)['loop'] = loop();
    try {
      req.session.save((e) => (e ? next(e) : res.json({ ok: true })));
    } catch (err) {
      // express-session hashes the session before it calls the store, and that throws. Drop
      // the value, or express-session's end-of-request hash throws again and the response
      // never ends.
      delete data(req)['loop'];
      next(err);
    }
  });
  app.use((err: Error & { code?: string }, _req: express.Request, res: express.Response, next: express.NextFunction) => {
    errors.push(codeOf(err));
    if (res.headersSent) return next(err);
    res.status(500).json({ code: codeOf(err), message: err.message });
  });
  return listen(app);
};

export const fastifyRaceApp: RaceApp = async (store, gates, errors = []) => {
  // Closing waits for no connection (a hung-up request's would hold it for seconds).
  const app = Fastify({ forceCloseConnections: true });
  app.addHook('onError', async (_req, _reply, err) => void errors.push(codeOf(err)));
  await app.register(cookie);
  await app.register(fastifySession, {
    store: store as never,
    secret: 'a secret with minimum length of 32 characters',
    saveUninitialized: false,
    cookie: { maxAge: 60_000, secure: false },
  });
  const pass = async (query: unknown, name = 'gate') => {
    const gate = gateOf(query, name);
    if (gate !== undefined) await gates.pass(gate);
  };
  // Typed loosely: the app stores arbitrary fields.
  const loose = (s: unknown) => s as { get(k: string): unknown; set(k: string, v: unknown): void };
  const assign = (s: unknown, fields: Fields) => {
    for (const [k, v] of Object.entries(fields)) loose(s).set(k, v);
  };

  app.post('/login', async (req) => {
    await req.session.regenerate();
    loose(req.session).set('user', String((req.body as { user: string }).user));
    await req.session.save();
    return { ok: true };
  });
  app.post('/logout', async (req) => {
    await req.session.destroy();
    return { ok: true };
  });
  app.get('/state', async (req) => {
    await pass(req.query);
    return stateOf(req.session);
  });
  app.post('/put', async (req) => {
    await pass(req.query);
    assign(req.session, (req.body as { fields: Fields }).fields);
    return { ok: true };
  });
  app.post('/put-twice', async (req) => {
    const body = req.body as { first: Fields; second: Fields };
    await pass(req.query, 'first');
    assign(req.session, body.first);
    await req.session.save();
    await pass(req.query, 'second');
    assign(req.session, body.second);
    await req.session.save();
    return { ok: true };
  });
  app.post('/rotate', async (req) => {
    await pass(req.query);
    const user = loose(req.session).get('user');
    await req.session.regenerate();
    if (user !== undefined) loose(req.session).set('user', user);
    await req.session.save();
    return { ok: true };
  });
  app.post('/circular', async (req) => {
    loose(req.session).set('loop', loop());
    await req.session.save();
    return { ok: true };
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, close: () => app.close() };
};

function listen(app: express.Express): Promise<RunningApp> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}
