import { setTimeout as sleep } from 'node:timers/promises';
import { StowageError, type SessionStore } from '@stowage/core';
import { MemorySessionStore } from '@stowage/stores-memory';
import { RedisSessionStore } from '@stowage/stores-redis';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StowageSessionStore, type SessionWriteConflict } from '../src/index.js';
import type { RunningApp } from './apps.js';
import { Gates } from '@stowage/test-stores';
import { Browser, sessionIdOf } from './http.js';
import { expressRaceApp, fastifyRaceApp, type RaceApp } from './race-apps.js';
import { recording } from './recording-store.js';

// `circular`: what a request that stores a circular object fails with. express-session
// hashes the session itself before it calls the store (a TypeError); @fastify/session's hash
// copes, so the adapter's codec refuses it. `failedSave`: the status a request gets when the
// save at its end fails (express-session has sent the response by then), and how many saves
// were tried (@fastify/session saves again for its error reply).
const FRAMEWORKS = [
  { name: 'express-session', app: expressRaceApp, cookie: 'connect.sid', circular: 'TypeError', failedSave: 200, saveTries: 1 },
  { name: '@fastify/session', app: fastifyRaceApp, cookie: 'sessionId', circular: 'INVALID_ARGUMENT', failedSave: 500, saveTries: 2 },
] as const;

const circular = (): Record<string, unknown> => {
  const o: Record<string, unknown> = { user: 'ada' };
  o['self'] = o;
  return o;
};
const setVia = (store: StowageSessionStore, sid: string, data: unknown) =>
  new Promise<unknown>((resolve) => store.set(sid, data, (err?: unknown) => resolve(err ?? null)));
const getVia = (store: StowageSessionStore, sid: string) =>
  new Promise<any>((resolve, reject) => store.get(sid, (err, s) => (err ? reject(err) : resolve(s))));

async function withApp<T>(make: RaceApp, store: StowageSessionStore, run: (app: RunningApp) => Promise<T>, errors?: string[]): Promise<T> {
  const app = await make(store, new Gates(), errors);
  try {
    return await run(app);
  } finally {
    await app.close();
  }
}

await describeStoreBackends((backend) => {
  describe('session data that JSON cannot encode (a circular object)', () => {
    let set: StoreSet;
    let sessions: SessionStore;
    beforeAll(async () => {
      set = await backend.open(freshNamespace());
      sessions = set.sessions();
    });
    afterAll(async () => {
      await set.close();
    });

    for (const fw of FRAMEWORKS) {
      it(`${fw.name}: the request fails with ${fw.circular}, the store is not written, the session is intact`, async () => {
        const rec = recording(sessions);
        await withApp(fw.app, new StowageSessionStore({ store: rec.store }), async (app) => {
          const browser = new Browser(app.url);
          await browser.request('POST', '/login', { user: 'ada' });
          const sid = sessionIdOf(browser.cookie(fw.cookie))!;
          const before = (await sessions.get(sid))!;
          const writes = rec.calls.filter((c) => c.method === 'set').length;

          const r = await browser.request('POST', '/circular');
          expect(r.status).toBe(500);
          expect(r.json.code).toBe(fw.circular);
          expect(rec.calls.filter((c) => c.method === 'set').length).toBe(writes);
          const after = (await sessions.get(sid))!;
          expect(after.version).toBe(before.version);
          expect(Buffer.from(after.data).equals(Buffer.from(before.data))).toBe(true);
          expect((await browser.request('GET', '/state')).json.data).toEqual({ user: 'ada' });
        });
      });
    }

    it("the adapter passes jsonCodec's INVALID_ARGUMENT, with its cause, to the callback and stores nothing", async () => {
      const store = new StowageSessionStore({ store: sessions });
      const err = await setVia(store, 'circular', circular());
      expect(StowageError.is(err, 'INVALID_ARGUMENT')).toBe(true);
      expect((err as StowageError).cause).toBeInstanceOf(TypeError);
      expect(await sessions.get('circular')).toBeUndefined();
    });
  });
});

describe('one deadline on every store call', () => {
  for (const fw of FRAMEWORKS) {
    it(`${fw.name}: each get, set, touch and destroy carries Date.now() + timeoutMs`, async () => {
      const inner = new MemorySessionStore();
      const rec = recording(inner);
      await withApp(fw.app, new StowageSessionStore({ store: rec.store, timeoutMs: 750 }), async (app) => {
        const browser = new Browser(app.url);
        await browser.request('POST', '/login', { user: 'ada' });
        await browser.request('GET', '/state');
        await browser.request('POST', '/put', { fields: { a: 1 } });
        await browser.request('POST', '/logout');
      });
      await inner.close();
      // @fastify/session never touches: it saves every response (rolling).
      const methods = fw.name === 'express-session' ? ['destroy', 'get', 'set', 'touch'] : ['destroy', 'get', 'set'];
      expect([...new Set(rec.calls.map((c) => c.method))].sort()).toEqual(methods);
      for (const c of rec.calls) {
        expect(Number.isInteger(c.opts?.['deadline'])).toBe(true);
        expect(c.opts!['deadline'] - c.at).toBeGreaterThan(650);
        expect(c.opts!['deadline'] - c.at).toBeLessThanOrEqual(750);
      }
    });
  }

  it('rejects a bad timeoutMs with INVALID_ARGUMENT', () => {
    const store = new MemorySessionStore();
    expect(() => new StowageSessionStore({ store, timeoutMs: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new StowageSessionStore({ store, timeoutMs: 1.5 })).toThrow(/timeoutMs/);
  });
});

describe('a dead backend: each session call answers within timeoutMs, not the store limit (10 s)', () => {
  // Nothing listens on port 1; ioredis queues commands and retries forever, so only a
  // deadline ends a call.
  const client = new Redis({ port: 1, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 200, maxRetriesPerRequest: null });
  client.on('error', () => {});
  const dead = new RedisSessionStore({ client, timeoutMs: 10_000 });
  const healthy = new MemorySessionStore();
  afterAll(async () => {
    await dead.close();
    client.disconnect();
    await healthy.close();
  });

  /** A browser holding a valid signed cookie (from an app with the same secret on a live store). */
  async function signedIn(make: RaceApp): Promise<Browser> {
    return withApp(make, new StowageSessionStore({ store: healthy }), async (app) => {
      const browser = new Browser(app.url);
      await browser.request('POST', '/login', { user: 'ada' });
      return browser;
    });
  }

  for (const fw of FRAMEWORKS) {
    it(`${fw.name}: loading the session fails the request (500)`, async () => {
      const browser = await signedIn(fw.app);
      const errors: string[] = [];
      await withApp(
        fw.app,
        new StowageSessionStore({ store: dead, timeoutMs: 200 }),
        async (app) => {
          const t0 = Date.now();
          const r = await browser.clone(app.url).request('GET', '/state');
          expect(Date.now() - t0).toBeLessThan(3000);
          expect(r.status).toBe(500);
          expect(errors).toHaveLength(1);
          expect(['TIMEOUT', 'UNAVAILABLE']).toContain(errors[0]);
        },
        errors,
      );
    });

    it(`${fw.name}: the end-of-request save fails (status ${fw.failedSave}), and the error is reported (${fw.saveTries}x)`, async () => {
      const errors: string[] = [];
      await withApp(
        fw.app,
        new StowageSessionStore({ store: dead, timeoutMs: 200 }),
        async (app) => {
          const t0 = Date.now();
          const r = await new Browser(app.url).request('POST', '/put', { fields: { a: 1 } }); // a new session: nothing to load
          expect(Date.now() - t0).toBeLessThan(3000);
          expect(r.status).toBe(fw.failedSave);
          for (let i = 0; i < 100 && errors.length < fw.saveTries; i++) await sleep(10); // express-session reports after the response
          expect(errors).toHaveLength(fw.saveTries);
          for (const code of errors) expect(['TIMEOUT', 'UNAVAILABLE']).toContain(code);
        },
        errors,
      );
    });
  }

  it('with health reporting it down, express-session serves without req.session; @fastify/session ignores health and fails', async () => {
    const [forExpress, forFastify] = [await signedIn(expressRaceApp), await signedIn(fastifyRaceApp)];
    for (const fw of FRAMEWORKS) {
      const store = new StowageSessionStore({
        store: dead,
        timeoutMs: 200,
        health: async () => ({ ok: false, latencyMs: 1 }),
        healthIntervalMs: 20,
      });
      try {
        // The app first: express-session listens for 'disconnect' from `session({ store })` on.
        await withApp(fw.app, store, async (app) => {
          await new Promise((r) => store.once('disconnect', r));
          const r = await (fw.app === expressRaceApp ? forExpress : forFastify).clone(app.url).request('GET', '/state');
          if (fw.app === expressRaceApp) expect(r).toMatchObject({ status: 200, json: { has: false } });
          else expect(r.status).toBe(500);
        });
      } finally {
        store.close();
      }
    }
  });
});

describe("the 'conflict' event", () => {
  it('reports each dropped write; a listener that throws fails that write, not the process', async () => {
    const inner = new MemorySessionStore();
    const store = new StowageSessionStore({ store: inner });
    const events: SessionWriteConflict[] = [];
    let throwing = false;
    store.on('conflict', (c: SessionWriteConflict) => {
      events.push(c);
      if (throwing) throw new Error('listener bug');
    });
    expect(await setVia(store, 'sid', { user: 'ada' })).toBeNull(); // new: ifVersion 0 -> 1
    const [a, b] = [await getVia(store, 'sid'), await getVia(store, 'sid')]; // both read 1
    a.user = 'a';
    b.user = 'b';
    expect(await setVia(store, 'sid', a)).toBeNull(); // 2
    expect(await setVia(store, 'sid', a)).toBeNull(); // a second save of one read: 3
    expect(await setVia(store, 'sid', b)).toBeNull(); // read 1: dropped
    // An object this store did not hand out is a new session: it may not replace one.
    expect(await setVia(store, 'sid', { user: 'c' })).toBeNull();
    throwing = true;
    expect(await setVia(store, 'sid', b)).toMatchObject({ message: 'listener bug' });
    expect(events).toEqual([
      { sid: 'sid', ifVersion: 1, currentVersion: 3 },
      { sid: 'sid', ifVersion: 0, currentVersion: 3 },
      { sid: 'sid', ifVersion: 1, currentVersion: 3 },
    ]);
    const record = (await inner.get('sid'))!;
    expect(record.version).toBe(3);
    expect(JSON.parse(Buffer.from(record.data).toString())).toEqual({ user: 'a' });
    await inner.close();
  });

  it('the version read travels unseen: not an own key of what get returns, never encoded, gone from a copy once written', async () => {
    const inner = new MemorySessionStore();
    const store = new StowageSessionStore({ store: inner });
    await setVia(store, 'sid', { user: 'ada', cookie: { originalMaxAge: 60_000 } });
    const read = await getVia(store, 'sid');
    expect(Object.keys(read)).toEqual(['user', 'cookie']);
    expect(JSON.parse(JSON.stringify(read))).toEqual({ user: 'ada', cookie: { originalMaxAge: 60_000 } });
    const copy: Record<string, unknown> = {}; // what @fastify/session does with a loaded session
    for (const key in read) copy[key] = read[key];
    expect(JSON.parse(JSON.stringify(copy))).toEqual({ user: 'ada', cookie: { originalMaxAge: 60_000 } });
    copy['user'] = 'bob';
    expect(await setVia(store, 'sid', copy)).toBeNull(); // written with the version read (1)
    expect(Object.keys(copy)).toEqual(['user', 'cookie']);
    const stored = (await inner.get('sid'))!;
    expect(stored.version).toBe(2);
    expect(Buffer.from(stored.data).toString()).toBe('{"user":"bob","cookie":{"originalMaxAge":60000}}');
    await inner.close();
  });
});
