// The CSRF plugin with @fastify/session (over @stowage/express-session) on two replicas, on
// every backend: tokens issued on one replica are checked on the other, in a header or a form
// field; a one-time token admits exactly one of many concurrent requests; a session id that
// rotates (regenerate, destroy) takes its tokens with it.
import { setTimeout as sleep } from 'node:timers/promises';
import cookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import { StowageSessionStore } from '@stowage/express-session';
import { describeStoreBackends } from '@stowage/test-stores';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csrf } from '../src/fastify.js';
import { listenFastify, openReplicas, type ReplicaStores, type Replicas } from './fastify-app.js';
import { headerOf, send, type RawResponse, type Running } from './http.js';

interface Seen {
  transfers: number;
  once: number;
}

async function replica(name: 'A' | 'B', stores: ReplicaStores, seen: Seen): Promise<Running> {
  const app = Fastify({ forceCloseConnections: true });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  await app.register(cookie);
  await app.register(fastifySession, {
    store: new StowageSessionStore({ store: stores.sessions }) as never,
    secret: 'a secret with minimum length of 32 characters',
    saveUninitialized: false, // saved only when changed: issuing a token must mark it
    cookie: { maxAge: 60_000, secure: false },
  });
  await app.register(async (pages) => {
    await pages.register(csrf, { store: stores.csrf });
    pages.get('/form', async (request) => ({ token: await request.csrfToken(), sid: request.session.sessionId, replica: name }));
    pages.post('/transfer', async () => ({ done: ++seen.transfers, replica: name }));
    pages.post('/login', async (request) => {
      await request.session.regenerate();
      request.session.set('user' as never, 'ada' as never);
      return { sid: request.session.sessionId };
    });
    pages.post('/logout', async (request) => {
      await request.session.destroy();
      return { ok: true };
    });
  });
  await app.register(async (once) => {
    await once.register(csrf, { store: stores.csrf, consume: true });
    once.post('/once', async () => ({ done: ++seen.once }));
  });
  return listenFastify(app);
}

const cookieOf = (r: RawResponse): string => headerOf(r, 'set-cookie')!.split(';')[0]!;
const json = <T>(r: RawResponse): T => JSON.parse(r.body.toString()) as T;

await describeStoreBackends((backend) => {
  let replicas: Replicas;
  let a: Running;
  let b: Running;
  const seen: Seen = { transfers: 0, once: 0 };
  beforeAll(async () => {
    replicas = await openReplicas(backend);
    a = await replica('A', replicas.stores[0], seen);
    b = await replica('B', replicas.stores[1], seen);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await replicas.close();
  });

  /** A page from `app`: its token, session id and the session cookie (set because issuing a token saved the session). */
  async function form(app: Running, sessionCookie?: string) {
    const page = await send(`${app.url}/form`, sessionCookie === undefined ? {} : { headers: { cookie: sessionCookie } });
    expect(page.status).toBe(200);
    const { token, sid } = json<{ token: string; sid: string }>(page);
    return { token, sid, cookie: sessionCookie ?? cookieOf(page) };
  }
  const post = (app: Running, path: string, headers: Record<string, string>, body?: string) =>
    send(`${app.url}${path}`, { method: 'POST', headers, ...(body === undefined ? {} : { body }) });
  /** Polls the store until the token no longer validates (revocation runs in the background). */
  async function revoked(sid: string, token: string): Promise<boolean> {
    for (let i = 0; i < 40; i++) {
      if (!(await replicas.stores[0].csrf.validate(sid, token))) return true;
      await sleep(50);
    }
    return false;
  }

  it('a token issued on one replica passes on the other in a header or a form field; none, forged or foreign is 403', async () => {
    const { token, cookie } = await form(a);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const before = seen.transfers;
    const none = await post(b, '/transfer', { cookie });
    expect([none.status, headerOf(none, 'content-type'), json<{ type: string }>(none).type]).toEqual([
      403,
      'application/problem+json',
      'urn:stowage:problem:csrf-token-invalid',
    ]);
    expect((await post(b, '/transfer', { cookie, 'x-csrf-token': 'forged' })).status).toBe(403);
    const byHeader = await post(b, '/transfer', { cookie, 'x-csrf-token': token });
    expect([byHeader.status, json<{ replica: string }>(byHeader).replica]).toEqual([200, 'B']);
    const byField = await post(
      a,
      '/transfer',
      { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      `_csrf=${encodeURIComponent(token)}`,
    );
    expect(byField.status).toBe(200);
    const other = await form(b); // another session's token does not work for this one
    expect((await post(a, '/transfer', { cookie, 'x-csrf-token': other.token })).status).toBe(403);
    expect(seen.transfers - before).toBe(2);
  });

  it('consume: 12 concurrent posts of one token over both replicas admit exactly one; the handler runs once', async () => {
    const { token, cookie } = await form(b);
    const before = seen.once;
    const statuses = await Promise.all(
      Array.from({ length: 12 }, (_, i) => post(i % 2 === 0 ? a : b, '/once', { cookie, 'x-csrf-token': token }).then((r) => r.status)),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 403)).toHaveLength(11);
    expect(seen.once - before).toBe(1);
  });

  it('regenerate on one replica revokes the old session id tokens; destroy too; a session that stays keeps them', async () => {
    const old = await form(a);
    const bystander = await form(b);
    expect(await replicas.stores[0].csrf.validate(old.sid, old.token)).toBe(true);
    const login = await post(b, '/login', { cookie: old.cookie, 'x-csrf-token': old.token });
    expect(login.status).toBe(200);
    const { sid: newSid } = json<{ sid: string }>(login);
    expect(newSid).not.toBe(old.sid);
    expect(await revoked(old.sid, old.token)).toBe(true);
    const fresh = await form(a, cookieOf(login));
    expect(fresh.sid).toBe(newSid);
    expect((await post(a, '/transfer', { cookie: fresh.cookie, 'x-csrf-token': old.token })).status).toBe(403);
    expect((await post(b, '/transfer', { cookie: fresh.cookie, 'x-csrf-token': fresh.token })).status).toBe(200);

    expect((await post(a, '/logout', { cookie: fresh.cookie, 'x-csrf-token': fresh.token })).status).toBe(200);
    expect(await revoked(newSid, fresh.token)).toBe(true);
    expect(await replicas.stores[1].csrf.validate(bystander.sid, bystander.token)).toBe(true);
  });

  it('without a session, csrfToken() rejects (INVALID_ARGUMENT) and unsafe methods are 403', async () => {
    const fastify = Fastify({ forceCloseConnections: true });
    await fastify.register(csrf, { store: replicas.stores[0].csrf });
    fastify.get('/token', async (request) => request.csrfToken().then(String, (e: { code: string }) => e.code));
    fastify.post('/transfer', async () => ({ done: ++seen.transfers }));
    const bare = await listenFastify(fastify);
    try {
      const before = seen.transfers;
      expect((await send(`${bare.url}/token`)).body.toString()).toBe('INVALID_ARGUMENT');
      const refused = await post(bare, '/transfer', { 'x-csrf-token': (await form(a)).token });
      expect([refused.status, json<{ detail: string }>(refused).detail]).toEqual([403, 'there is no session to check the token against']);
      expect(seen.transfers).toBe(before);
    } finally {
      await bare.close();
    }
  });
});

describe('csrf options', () => {
  it('refuses a store that is not a CsrfTokenStore, and a sessionId that is not a function', async () => {
    await expect(
      Fastify()
        .register(csrf, { store: {} as never })
        .ready(),
    ).rejects.toThrow(/options\.store/);
    const store = { issue() {} } as never; // never called: the options are refused first
    await expect(
      Fastify()
        .register(csrf, { store, sessionId: 'sid' as never })
        .ready(),
    ).rejects.toThrow(/options\.sessionId/);
  });
});
