import { setTimeout as sleep } from 'node:timers/promises';
import { encryptedCodec, type SessionStore } from '@stowage/core';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StowageSessionStore } from '../src/index.js';
import { expressApp, fastifyApp, type RunningApp } from './apps.js';
import { Browser, sessionIdOf } from './http.js';

const FRAMEWORKS = [
  { name: 'express-session', app: expressApp, cookie: 'connect.sid' },
  { name: '@fastify/session', app: fastifyApp, cookie: 'sessionId' },
] as const;

await describeStoreBackends((backend) => {
  for (const fw of FRAMEWORKS) {
    describe(fw.name, () => {
      let set: StoreSet;
      let sessions: SessionStore;
      let app: RunningApp;
      beforeAll(async () => {
        set = await backend.open(freshNamespace());
        sessions = set.sessions();
        app = await fw.app(new StowageSessionStore({ store: sessions }));
      });
      afterAll(async () => {
        await app.close();
        await set.close();
      });

      it('logs in, keeps the session across requests, rotates the id, and destroys it', async () => {
        const browser = new Browser(app.url);
        expect((await browser.request('GET', '/me')).json).toEqual({ user: null, views: 0 });
        expect((await browser.request('POST', '/login', { user: 'ada' })).status).toBe(200);
        const sid = sessionIdOf(browser.cookie(fw.cookie))!;
        expect(sid).toBeTruthy();
        expect(await sessions.get(sid)).toBeDefined();
        expect((await browser.request('GET', '/me')).json).toEqual({ user: 'ada', views: 1 });
        expect((await browser.request('GET', '/me')).json).toEqual({ user: 'ada', views: 2 });

        // A stolen copy of the cookie stops working once the session id rotates.
        const stolen = browser.clone();
        expect((await browser.request('POST', '/rotate')).status).toBe(200);
        const rotated = sessionIdOf(browser.cookie(fw.cookie))!;
        expect(rotated).not.toBe(sid);
        expect(await sessions.get(sid)).toBeUndefined();
        expect((await browser.request('GET', '/me')).json.user).toBe('ada');
        expect((await stolen.request('GET', '/me')).json.user).toBeNull();

        expect((await browser.request('POST', '/logout')).status).toBe(200);
        expect(await sessions.get(rotated)).toBeUndefined();
        expect((await browser.request('GET', '/me')).json.user).toBeNull();
      });

      it('stores each session with the TTL of its cookie, and forgets it once unused for that long', async () => {
        // 3 s: the read of the record after the login comes within it with seconds to spare on a
        // loaded machine.
        const maxAge = 3000;
        const short = await fw.app(new StowageSessionStore({ store: sessions }), maxAge);
        try {
          const browser = new Browser(short.url);
          const sentAt = Date.now();
          await browser.request('POST', '/login', { user: 'bob' });
          const answeredAt = Date.now();
          const sid = sessionIdOf(browser.cookie(fw.cookie))!;
          // The cookie's expiry is set while the login runs, and the record's is that one (rounded
          // to ms): both bounds come from the login, not from a time taken after it.
          const { expiresAt } = (await sessions.get(sid))!;
          expect(expiresAt).toBeGreaterThanOrEqual(sentAt + maxAge - 5);
          expect(expiresAt).toBeLessThanOrEqual(answeredAt + maxAge + 5);
          await sleep(Math.max(0, answeredAt + maxAge + 200 - Date.now()));
          expect(await sessions.get(sid)).toBeUndefined();
          expect((await browser.request('GET', '/me')).json.user).toBeNull();
        } finally {
          await short.close();
        }
      });
    });
  }

  it('takes any string as a session id: one the store cannot key is hashed, never refused', async () => {
    const set = await backend.open(freshNamespace());
    const sessions = set.sessions();
    const store = new StowageSessionStore({ store: sessions });
    const call = <T>(f: (cb: (err: unknown, value?: T) => void) => void) =>
      new Promise<T | undefined>((resolve, reject) => f((err, value) => (err ? reject(err) : resolve(value))));
    const cookie = { maxAge: 60_000, originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000) };
    try {
      // A custom genid or a forged cookie: 2000 bytes, U+0000, a lone surrogate, and a readable one.
      for (const sid of ['s'.repeat(2000), 'a\u0000b', 'x\ud800', 'plain-sid']) {
        expect(await call((cb) => store.get(sid, cb))).toBeFalsy();
        await call((cb) => store.set(sid, { cookie, user: sid.length }, cb));
        expect(await call<any>((cb) => store.get(sid, cb))).toMatchObject({ user: sid.length });
        await call((cb) => store.touch(sid, { cookie }, cb));
        await call((cb) => store.destroy(sid, cb));
        expect(await call((cb) => store.get(sid, cb))).toBeFalsy();
      }
      // A valid key is kept as it is, readable in the store (a new id: the destroyed one's
      // stale write would be dropped as a lost race).
      expect(await call((cb) => store.get('readable-sid', cb))).toBeFalsy();
      await call((cb) => store.set('readable-sid', { cookie }, cb));
      expect(await sessions.get('readable-sid')).toBeDefined();
    } finally {
      await set.close();
    }
  });

  // A memory store lives in one process: replicas share nothing, so only the other backends.
  if (backend.kind !== 'memory')
    describe('two express replicas on one store', () => {
      it('a session made on one replica is read, changed and destroyed through the other', async () => {
        const ns = freshNamespace();
        const [setA, setB] = [await backend.open(ns), await backend.open(ns)];
        const [a, b] = [
          await expressApp(new StowageSessionStore({ store: setA.sessions() })),
          await expressApp(new StowageSessionStore({ store: setB.sessions() })),
        ];
        try {
          const onA = new Browser(a.url);
          await onA.request('POST', '/login', { user: 'ada' });
          const onB = onA.clone(b.url);
          expect((await onB.request('GET', '/me')).json).toEqual({ user: 'ada', views: 1 });
          expect((await onA.request('GET', '/me')).json).toEqual({ user: 'ada', views: 2 });
          await onB.request('POST', '/logout');
          expect((await onA.request('GET', '/me')).json.user).toBeNull();
        } finally {
          await a.close();
          await b.close();
          await setA.close();
          await setB.close();
        }
      });
    });
});

describe('StowageSessionStore options', () => {
  it('skips touch writes within touchAfterMs (rolling sessions), and writes once it has passed', async () => {
    const { MemorySessionStore } = await import('@stowage/stores-memory');
    const inner = new MemorySessionStore();
    let touches = 0;
    const counting: SessionStore = Object.assign(Object.create(inner) as SessionStore, {
      touch: (id: string, ttlMs: number) => {
        touches++;
        return inner.touch(id, ttlMs);
      },
    });
    // 3 s: the requests that must come within it of the last write fit with seconds to spare
    // on a loaded machine.
    const touchAfterMs = 3000;
    const app = await expressApp(new StowageSessionStore({ store: counting, touchAfterMs }), 60_000, true);
    try {
      const browser = new Browser(app.url);
      await browser.request('POST', '/login', { user: 'ada' });
      const loggedInAt = Date.now(); // the login's write is remembered before its answer
      for (let i = 0; i < 5; i++) await browser.request('GET', '/peek'); // unmodified: touch only
      expect(touches).toBe(0);
      await sleep(Math.max(0, loggedInAt + touchAfterMs + 50 - Date.now()));
      await browser.request('GET', '/peek');
      expect(touches).toBe(1);
      await browser.request('GET', '/peek'); // within touchAfterMs of that touch
      expect(touches).toBe(1);
    } finally {
      await app.close();
      await inner.close();
    }
  });

  it('encrypts sessions at rest with encryptedCodec, and a session under a retired key reads as none', async () => {
    const { MemorySessionStore } = await import('@stowage/stores-memory');
    const inner = new MemorySessionStore();
    const key = { id: 'k1', key: Buffer.alloc(32, 7) };
    const app = await expressApp(new StowageSessionStore({ store: inner, codec: encryptedCodec({ keys: [key] }) }));
    try {
      const browser = new Browser(app.url);
      await browser.request('POST', '/login', { user: 'secret-user-name' });
      const sid = sessionIdOf(browser.cookie('connect.sid'))!;
      const stored = Buffer.from((await inner.get(sid))!.data);
      expect(stored.includes('secret-user-name')).toBe(false);
      expect((await browser.request('GET', '/me')).json.user).toBe('secret-user-name');
      const rotated = await expressApp(
        new StowageSessionStore({ store: inner, codec: encryptedCodec({ keys: [{ id: 'k2', key: Buffer.alloc(32, 9) }] }) }),
      );
      try {
        expect((await browser.clone(rotated.url).request('GET', '/me')).json.user).toBeNull();
      } finally {
        await rotated.close();
      }
    } finally {
      await app.close();
      await inner.close();
    }
  });

  it('records the owner, so destroyByOwner signs a user out on every device', async () => {
    const { MemorySessionStore } = await import('@stowage/stores-memory');
    const inner = new MemorySessionStore();
    const app = await expressApp(new StowageSessionStore({ store: inner, owner: (s) => s['user'] as string | undefined }));
    try {
      const laptop = new Browser(app.url);
      const phone = new Browser(app.url);
      await laptop.request('POST', '/login', { user: 'ada' });
      await phone.request('POST', '/login', { user: 'ada' });
      expect(await inner.destroyByOwner('ada')).toBe(2);
      expect((await laptop.request('GET', '/me')).json.user).toBeNull();
      expect((await phone.request('GET', '/me')).json.user).toBeNull();
    } finally {
      await app.close();
      await inner.close();
    }
  });

  it("emits express-session's disconnect / connect from its health probe", async () => {
    const { MemorySessionStore } = await import('@stowage/stores-memory');
    const inner = new MemorySessionStore();
    let ok = true;
    const store = new StowageSessionStore({ store: inner, health: async () => ({ ok, latencyMs: 1 }), healthIntervalMs: 20 });
    const events: string[] = [];
    store.on('connect', () => events.push('connect'));
    store.on('disconnect', () => events.push('disconnect'));
    ok = false;
    await sleep(80);
    ok = true;
    await sleep(80);
    store.close();
    expect(events).toEqual(['disconnect', 'connect']);
    await inner.close();
  });

  it("probes the store's own health() by default: a closed store is a disconnect; health: false probes nothing", async () => {
    const { MemorySessionStore } = await import('@stowage/stores-memory');
    const inner = new MemorySessionStore();
    const byDefault = new StowageSessionStore({ store: inner, healthIntervalMs: 20 });
    const off = new StowageSessionStore({ store: inner, health: false, healthIntervalMs: 20 });
    const events: string[] = [];
    byDefault.on('disconnect', () => events.push('default disconnect'));
    off.on('disconnect', () => events.push('off disconnect'));
    await sleep(80);
    expect(events).toEqual([]); // healthy: nothing to say
    await inner.close(); // its health() is { ok: false } from now on
    for (let i = 0; i < 100 && events.length === 0; i++) await sleep(20);
    await sleep(80); // and a little more, so the store with health: false had its chances
    byDefault.close();
    off.close();
    expect(events).toEqual(['default disconnect']);
  });

  it('validates its options with StowageError', () => {
    expect(() => new StowageSessionStore({} as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new StowageSessionStore({ store: { get() {} } as never, defaultTtlMs: 0 })).toThrow(/defaultTtlMs/);
    expect(() => new StowageSessionStore({ store: { get() {} } as never, health: true as never })).toThrow(/options\.health/);
  });
});
