import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends } from '@stowage/test-stores';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { StowageKoaSessionStore, type StowageKoaSessionStoreOptions } from '../src/index.js';
import { COOKIE, koaApp, type KoaAppOptions, type RunningApp } from './app.js';
import { Browser } from '@stowage/test-stores';
import { callsOf, recording, writesOf, type StoreCall } from './recording.js';
import { openReplicas, type Replicas } from './replicas.js';

// What expires when, on two replicas: each browser alternates between them. A session's clock
// starts at its save, which lies between the login's sending (`sentAt`) and its answer
// (`loggedInAt`): a check that the session is still alive is scheduled from `sentAt`, one that
// it has expired from `loggedInAt`, so a slow login only widens the latter's margin. The
// margins a slow request eats are 1 s or more (a loaded machine stalls for a second or two).
// The tests of a backend run at once (each has its own apps and sessions): they mostly wait.

interface Pair {
  /** Requests alternate between the replicas: A, B, A... */
  browser(): Browser;
  calls: StoreCall[];
  a: RunningApp;
  b: RunningApp;
  /** `Date.now()` before the login was sent, and after its answer: its save lies between. */
  sentAt: number;
  loggedInAt: number;
}

await describeStoreBackends((backend) => {
  describe.concurrent('expiry', () => {
    let replicas: Replicas;
    const opened: RunningApp[] = [];
    beforeAll(async () => {
      replicas = await openReplicas(backend);
      // The first calls (connect, migrate) before any timeline starts.
      await replicas.a.get('warm-up');
      await replicas.b.get('warm-up');
    });
    afterAll(async () => {
      for (const app of opened) await app.close();
      await replicas.close();
    });

    /** Replicas A and B of one app; `login` as ada on A. */
    async function pair(app: KoaAppOptions, store: Omit<StowageKoaSessionStoreOptions, 'store'> = {}): Promise<Pair> {
      const calls: StoreCall[] = [];
      // The deadline is not the subject here: a long one, so a slow moment cannot fail a call.
      const options = { timeoutMs: 5000, ...store };
      const a = await koaApp(new StowageKoaSessionStore({ ...options, store: recording(replicas.a, calls).store }), app);
      const b = await koaApp(new StowageKoaSessionStore({ ...options, store: recording(replicas.b, calls).store }), app);
      opened.push(a, b);
      const first = new Browser(a.url);
      const sentAt = Date.now();
      const login = await first.request('POST', '/login', { user: 'ada' });
      const loggedInAt = Date.now();
      if (login.status !== 200) throw new Error(`login answered ${login.status}`);
      let n = 0;
      return { browser: () => first.clone(n++ % 2 === 0 ? b.url : a.url), calls, a, b, sentAt, loggedInAt };
    }
    const peek = async (p: Pair) => (await p.browser().request('GET', '/peek')).json.user as string | null;
    const keyOf = (p: Pair) => writesOf(p.calls)[0]!.id;
    const at = (t0: number, ms: number) => sleep(Math.max(0, t0 + ms - Date.now()));

    it('maxAge 1800: the record lives 10 s longer (koa-session asks so), and koa-session ends the session at 1800 ms', async ({
      expect,
    }) => {
      const p = await pair({ maxAge: 1800 });
      const record = (await replicas.b.get(keyOf(p)))!;
      expect(record.expiresAt).toBeGreaterThanOrEqual(p.sentAt + 11_800 - 50);
      expect(record.expiresAt).toBeLessThanOrEqual(p.loggedInAt + 11_800 + 50);
      expect(await peek(p)).toBe('ada');
      await at(p.loggedInAt, 2100);
      expect(await peek(p)).toBeNull();
      expect([...p.a.events, ...p.b.events]).toContain('session:expired');
    });

    it('rolling: each request moves the expiry (a touch, no write); without it the session ends maxAge after its save', async ({
      expect,
    }) => {
      const [rolling, plain] = [await pair({ maxAge: 3000, rolling: true }), await pair({ maxAge: 3000 })];
      // Both alive at the first check (due 1400 ms before either could end), the plain one over
      // by the second; each rolling check is due within 1600 ms (+ the logins) of the last touch.
      const checks = [() => at(rolling.sentAt, 1600), () => at(plain.loggedInAt, 3200), () => at(plain.loggedInAt, 4800)];
      const users: Array<[string | null, string | null]> = [];
      for (const check of checks) {
        await check();
        users.push([await peek(rolling), await peek(plain)]);
      }
      expect(users).toEqual([
        ['ada', 'ada'],
        ['ada', null],
        ['ada', null],
      ]);
      const key = keyOf(rolling);
      expect(callsOf(rolling.calls, 'touch').map((c) => [c.id, c.args[1], c.result])).toEqual(Array(3).fill([key, 13_000, true]));
      expect(writesOf(rolling.calls).length).toBe(1); // the login
      const record = (await replicas.a.get(key))!;
      expect(record.version).toBe(1);
      expect(record.expiresAt - Date.now()).toBeGreaterThan(10_000);
      expect(callsOf(plain.calls, 'touch').length + writesOf(plain.calls).length).toBe(1);
    });

    it('renew: a request in the second half of maxAge moves the expiry, one in the first half writes nothing', async ({ expect }) => {
      const [renew, plain] = [await pair({ maxAge: 6000, renew: true }), await pair({ maxAge: 6000 })];
      await at(renew.sentAt, 900); // over 3000 ms left: more than half
      expect([await peek(renew), await peek(plain)]).toEqual(['ada', 'ada']);
      expect(callsOf(renew.calls, 'touch')).toEqual([]);
      await at(plain.loggedInAt, 4200); // under 1800 ms left: less than half
      expect([await peek(renew), await peek(plain)]).toEqual(['ada', 'ada']);
      expect(callsOf(renew.calls, 'touch').map((c) => c.result)).toEqual([true]);
      await at(plain.loggedInAt, 7200); // past the first expiry: renewed at 4200 or later, the session runs 6000 ms more
      expect([await peek(renew), await peek(plain)]).toEqual(['ada', null]);
      expect(writesOf(renew.calls).length).toBe(1);
    });

    it("maxAge 'session': a cookie without expiry, a record that lives defaultTtlMs after its last save", async ({ expect }) => {
      const p = await pair({ maxAge: 'session' }, { defaultTtlMs: 2400 });
      const key = keyOf(p);
      expect(writesOf(p.calls)[0]!.opts!['ttlMs']).toBe(2400);
      expect(await peek(p)).toBe('ada');
      const cookie = (await new Browser(p.a.url).request('POST', '/login', { user: 'bob' })).setCookie.find((c) =>
        c.startsWith(`${COOKIE}=`),
      );
      expect(cookie).toBeDefined();
      expect(cookie).not.toMatch(/expires=|max-age=/i);
      await at(p.loggedInAt, 2700);
      expect(await replicas.a.get(key)).toBeUndefined(); // the store's expiry, not koa-session's
      expect(await peek(p)).toBeNull();
    });

    it("maxAge 'session' with rolling: every request restarts defaultTtlMs", async ({ expect }) => {
      const p = await pair({ maxAge: 'session', rolling: true }, { defaultTtlMs: 2400 });
      // Each check is due 1200 ms after the last one (the first after the login): half the TTL
      // the last touch restarted.
      for (const ms of [1200, 2400, 3600]) {
        await at(p.sentAt, ms);
        expect(await peek(p)).toBe('ada');
      }
      const lastTouched = Date.now(); // the last check's touch came before its answer
      expect(callsOf(p.calls, 'touch').map((c) => [c.args[1], c.result])).toEqual(Array(3).fill([2400, true]));
      await at(lastTouched, 2700);
      expect(await peek(p)).toBeNull();
    });

    it('absoluteTtlMs ends a session in use: rolling touches never move it', async ({ expect }) => {
      const p = await pair({ maxAge: 60_000, rolling: true }, { absoluteTtlMs: 4500 });
      const key = keyOf(p);
      for (const ms of [1500, 3000]) {
        await at(p.sentAt, ms);
        expect(await peek(p)).toBe('ada');
      }
      const record = (await replicas.a.get(key))!;
      expect(record.expiresAt).toBe(record.absoluteExpiresAt);
      await at(p.loggedInAt, 4800);
      expect(await peek(p)).toBeNull();
      expect(await replicas.a.get(key)).toBeUndefined();
    });
  });
});
