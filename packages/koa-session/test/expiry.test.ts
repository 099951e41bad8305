import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends } from '@stowage/test-stores';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { StowageKoaSessionStore, type StowageKoaSessionStoreOptions } from '../src/index.js';
import { COOKIE, koaApp, type KoaAppOptions, type RunningApp } from './app.js';
import { Browser } from '@stowage/test-stores';
import { callsOf, recording, writesOf, type StoreCall } from './recording.js';
import { openReplicas, type Replicas } from './replicas.js';

// What expires when, on two replicas: each browser alternates between them. Requests are
// scheduled on one timeline from the login; every margin is 300 ms or more. The tests of a
// backend run at once (each has its own apps and sessions): they mostly wait.

interface Pair {
  /** Requests alternate between the replicas: A, B, A... */
  browser(): Browser;
  calls: StoreCall[];
  a: RunningApp;
  b: RunningApp;
}

await describeStoreBackends((backend) => {
  describe.concurrent('expiry', () => {
    let replicas: Replicas;
    const opened: RunningApp[] = [];
    beforeAll(async () => {
      replicas = await openReplicas(backend);
    });
    afterAll(async () => {
      for (const app of opened) await app.close();
      await replicas.close();
    });

    /** Replicas A and B of one app; `login` as ada on A. */
    async function pair(app: KoaAppOptions, store: Omit<StowageKoaSessionStoreOptions, 'store'> = {}): Promise<Pair> {
      const calls: StoreCall[] = [];
      const a = await koaApp(new StowageKoaSessionStore({ ...store, store: recording(replicas.a, calls).store }), app);
      const b = await koaApp(new StowageKoaSessionStore({ ...store, store: recording(replicas.b, calls).store }), app);
      opened.push(a, b);
      const first = new Browser(a.url);
      const login = await first.request('POST', '/login', { user: 'ada' });
      if (login.status !== 200) throw new Error(`login answered ${login.status}`);
      let n = 0;
      return { browser: () => first.clone(n++ % 2 === 0 ? b.url : a.url), calls, a, b };
    }
    const peek = async (p: Pair) => (await p.browser().request('GET', '/peek')).json.user as string | null;
    const keyOf = (p: Pair) => writesOf(p.calls)[0]!.id;
    const at = (t0: number, ms: number) => sleep(Math.max(0, t0 + ms - Date.now()));

    it('maxAge 600: the record lives 10 s longer (koa-session asks so), and koa-session ends the session at 600 ms', async ({ expect }) => {
      const p = await pair({ maxAge: 600 });
      const t0 = Date.now();
      const record = (await replicas.b.get(keyOf(p)))!;
      expect(record.expiresAt - t0).toBeGreaterThan(10_000);
      expect(record.expiresAt - t0).toBeLessThanOrEqual(10_600 + 50);
      expect(await peek(p)).toBe('ada');
      await at(t0, 900);
      expect(await peek(p)).toBeNull();
      expect([...p.a.events, ...p.b.events]).toContain('session:expired');
    });

    it('rolling: each request moves the expiry (a touch, no write); without it the session ends maxAge after its save', async ({
      expect,
    }) => {
      const [rolling, plain] = [await pair({ maxAge: 1000, rolling: true }), await pair({ maxAge: 1000 })];
      const t0 = Date.now();
      const users: Array<[string | null, string | null]> = [];
      for (const ms of [600, 1200, 1800]) {
        await at(t0, ms);
        users.push([await peek(rolling), await peek(plain)]);
      }
      expect(users).toEqual([
        ['ada', 'ada'],
        ['ada', null],
        ['ada', null],
      ]);
      const key = keyOf(rolling);
      expect(callsOf(rolling.calls, 'touch').map((c) => [c.id, c.args[1], c.result])).toEqual(Array(3).fill([key, 11_000, true]));
      expect(writesOf(rolling.calls).length).toBe(1); // the login
      const record = (await replicas.a.get(key))!;
      expect(record.version).toBe(1);
      expect(record.expiresAt - Date.now()).toBeGreaterThan(10_000);
      expect(callsOf(plain.calls, 'touch').length + writesOf(plain.calls).length).toBe(1);
    });

    it('renew: a request in the second half of maxAge moves the expiry, one in the first half writes nothing', async ({ expect }) => {
      const [renew, plain] = [await pair({ maxAge: 2000, renew: true }), await pair({ maxAge: 2000 })];
      const t0 = Date.now();
      await at(t0, 300); // 1700 ms left: more than half
      expect([await peek(renew), await peek(plain)]).toEqual(['ada', 'ada']);
      expect(callsOf(renew.calls, 'touch')).toEqual([]);
      await at(t0, 1300); // 700 ms left
      expect([await peek(renew), await peek(plain)]).toEqual(['ada', 'ada']);
      expect(callsOf(renew.calls, 'touch').map((c) => c.result)).toEqual([true]);
      await at(t0, 2400); // past the first expiry: renewed at 1300, the session runs to 3300
      expect([await peek(renew), await peek(plain)]).toEqual(['ada', null]);
      expect(writesOf(renew.calls).length).toBe(1);
    });

    it("maxAge 'session': a cookie without expiry, a record that lives defaultTtlMs after its last save", async ({ expect }) => {
      const p = await pair({ maxAge: 'session' }, { defaultTtlMs: 800 });
      const key = keyOf(p);
      const t0 = Date.now();
      expect(writesOf(p.calls)[0]!.opts!['ttlMs']).toBe(800);
      const cookie = (await new Browser(p.a.url).request('POST', '/login', { user: 'bob' })).setCookie.find((c) =>
        c.startsWith(`${COOKIE}=`),
      );
      expect(cookie).toBeDefined();
      expect(cookie).not.toMatch(/expires=|max-age=/i);
      expect(await peek(p)).toBe('ada');
      await at(t0, 1100);
      expect(await replicas.a.get(key)).toBeUndefined(); // the store's expiry, not koa-session's
      expect(await peek(p)).toBeNull();
    });

    it("maxAge 'session' with rolling: every request restarts defaultTtlMs", async ({ expect }) => {
      const p = await pair({ maxAge: 'session', rolling: true }, { defaultTtlMs: 800 });
      const t0 = Date.now();
      for (const ms of [500, 1000, 1500]) {
        await at(t0, ms);
        expect(await peek(p)).toBe('ada');
      }
      expect(callsOf(p.calls, 'touch').map((c) => [c.args[1], c.result])).toEqual(Array(3).fill([800, true]));
      await at(t0, 2600);
      expect(await peek(p)).toBeNull();
    });

    it('absoluteTtlMs ends a session in use: rolling touches never move it', async ({ expect }) => {
      const p = await pair({ maxAge: 60_000, rolling: true }, { absoluteTtlMs: 1500 });
      const key = keyOf(p);
      const t0 = Date.now();
      for (const ms of [500, 1000]) {
        await at(t0, ms);
        expect(await peek(p)).toBe('ada');
      }
      const record = (await replicas.a.get(key))!;
      expect(record.expiresAt).toBe(record.absoluteExpiresAt);
      await at(t0, 1800);
      expect(await peek(p)).toBeNull();
      expect(await replicas.a.get(key)).toBeUndefined();
    });
  });
});
