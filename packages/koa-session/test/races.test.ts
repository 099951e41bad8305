import { jsonCodec } from '@stowage/core';
import { describeStoreBackends } from '@stowage/test-stores';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StowageKoaSessionStore, type KoaSessionConflict } from '../src/index.js';
import { COOKIE, koaApp, type RunningApp } from './app.js';
import { Gates } from '@stowage/test-stores';
import { Browser } from '@stowage/test-stores';
import { callsOf, liveSessions, recording, writesOf, type StoreCall } from './recording.js';
import { openReplicas, type Replicas } from './replicas.js';

// Concurrent requests of one user, ordered exactly by gates in the handlers (each waits there
// with its session loaded), over two replicas; every store call of both is counted.
await describeStoreBackends((backend) => {
  for (const rolling of [false, true]) {
    describe(`rolling ${rolling}: a save never resurrects or overwrites a newer session`, () => {
      let replicas: Replicas;
      let calls: StoreCall[];
      let conflicts: KoaSessionConflict[];
      let gates: Gates;
      let a: RunningApp;
      let b: RunningApp;
      beforeAll(async () => {
        replicas = await openReplicas(backend);
      });
      afterAll(async () => {
        await replicas.close();
      });
      beforeEach(async () => {
        calls = [];
        conflicts = [];
        gates = new Gates();
        const adapter = (store: Replicas['a']) => {
          const adapted = new StowageKoaSessionStore({ store: recording(store, calls).store });
          adapted.on('conflict', (c: KoaSessionConflict) => conflicts.push(c));
          return adapted;
        };
        a = await koaApp(adapter(replicas.a), { rolling, gates });
        b = await koaApp(adapter(replicas.b), { rolling, gates });
      });
      afterEach(async () => {
        await a.close();
        await b.close();
      });

      const login = async (browser: Browser): Promise<{ key: string; version: number }> => {
        expect((await browser.request('POST', '/login', { user: 'ada' })).status).toBe(200);
        const key = browser.cookie(COOKIE)!;
        return { key, version: (await replicas.a.get(key))!.version };
      };
      /** The stored version and the app's fields (without koa-session's `_expire` and `_maxAge`). */
      const stored = async (key: string) => {
        const record = await replicas.b.get(key);
        if (record === undefined) return undefined;
        const { _expire, _maxAge, ...data } = jsonCodec.decode(record.data, key) as Record<string, unknown>;
        return { version: record.version, data };
      };
      const touches = (from: number) => callsOf(calls, 'touch').slice(from);

      it('logout on B during a slow change on A: the session stays gone, the old cookie gets none', async () => {
        const browser = new Browser(a.url);
        const { key, version } = await login(browser);
        const slow = browser.request('POST', '/put?gate=slow', { fields: { cart: ['book'] } });
        await gates.arrival('slow'); // loaded at `version`
        expect((await browser.clone(b.url).request('POST', '/logout')).status).toBe(200);
        const writesBefore = writesOf(calls).length;
        gates.open('slow');
        expect((await slow).status).toBe(200);

        expect(writesOf(calls).length).toBe(writesBefore); // the slow request wrote nothing
        expect(conflicts).toEqual([{ key, ifVersion: version, currentVersion: 0 }]);
        expect(await liveSessions(replicas.a, calls)).toEqual([]);
        expect((await browser.request('GET', '/state')).json).toEqual({ isNew: true, data: {} });
        expect(await liveSessions(replicas.a, calls)).toEqual([]);
        expect([a.errors, b.errors]).toEqual([[], []]);
      });

      it(`logout on B during a slow read on A: ${rolling ? 'its refresh (a touch) answers false' : 'it writes nothing'}`, async () => {
        const browser = new Browser(a.url);
        const { key } = await login(browser);
        const slow = browser.request('GET', '/state?gate=slow');
        await gates.arrival('slow');
        await browser.clone(b.url).request('POST', '/logout');
        const [writesBefore, touchesBefore] = [writesOf(calls).length, callsOf(calls, 'touch').length];
        gates.open('slow');
        expect((await slow).json).toEqual({ isNew: false, data: { user: 'ada' } });

        expect(writesOf(calls).length).toBe(writesBefore);
        expect(touches(touchesBefore).map((c) => c.result)).toEqual(rolling ? [false] : []);
        expect(conflicts).toEqual([]);
        expect(await replicas.a.get(key)).toBeUndefined();
        expect(await liveSessions(replicas.a, calls)).toEqual([]);
      });

      it('two concurrent changes on A and B: the first write wins whole, the second is dropped', async () => {
        const browser = new Browser(a.url);
        const { key, version } = await login(browser);
        const x = browser.request('POST', '/put?gate=x', { fields: { owner: 'x', items: ['x1', 'x2'], x: true } });
        const y = browser.clone(b.url).request('POST', '/put?gate=y', { fields: { owner: 'y', items: ['y1'], y: true } });
        await Promise.all([gates.arrival('x'), gates.arrival('y')]); // both read `version`
        gates.open('x');
        expect((await x).status).toBe(200);
        gates.open('y');
        expect((await y).status).toBe(200);

        const xs = { user: 'ada', owner: 'x', items: ['x1', 'x2'], x: true };
        expect(await stored(key)).toEqual({ version: version + 1, data: xs });
        expect(writesOf(calls, key).at(-1)!.opts!['ifVersion']).toBe(version);
        expect(conflicts).toEqual([{ key, ifVersion: version, currentVersion: version + 1 }]);
        expect((await browser.clone(b.url).request('GET', '/state')).json.data).toEqual(xs);
      });

      it('a read that finishes first never drops a concurrent change', async () => {
        const browser = new Browser(a.url);
        const { key, version } = await login(browser);
        const change = browser.request('POST', '/put?gate=change', { fields: { cart: ['book'] } });
        const look = browser.clone(b.url).request('GET', '/peek?gate=look');
        await Promise.all([gates.arrival('change'), gates.arrival('look')]);
        const touchesBefore = callsOf(calls, 'touch').length;
        gates.open('look');
        expect((await look).json).toEqual({ user: 'ada' });
        expect(touches(touchesBefore).map((c) => c.result)).toEqual(rolling ? [true] : []);
        gates.open('change');
        expect((await change).status).toBe(200);

        expect(await stored(key)).toEqual({ version: version + 1, data: { user: 'ada', cart: ['book'] } });
        expect(conflicts).toEqual([]);
      });

      it('a second save in one request writes on top of its first, while a stale one is dropped', async () => {
        const browser = new Browser(a.url);
        const { key, version } = await login(browser);
        const x = browser.request('POST', '/put-twice?first=x1&second=x2', { first: { step: 1 }, second: { step: 2, done: true } });
        const y = browser.clone(b.url).request('POST', '/put?gate=y', { fields: { step: 'y' } });
        await Promise.all([gates.arrival('x1'), gates.arrival('y')]); // both read `version`
        gates.open('x1');
        await gates.arrival('x2'); // x saved once
        expect(await stored(key)).toEqual({ version: version + 1, data: { user: 'ada', step: 1 } });
        gates.open('y');
        expect((await y).status).toBe(200);
        expect(conflicts).toEqual([{ key, ifVersion: version, currentVersion: version + 1 }]);
        gates.open('x2');
        expect((await x).status).toBe(200);

        expect(await stored(key)).toEqual({ version: version + 2, data: { user: 'ada', step: 2, done: true } });
        expect(conflicts.length).toBe(1);
      });

      it('regenerate: the new key is written as new (version 1), and a stale request cannot revive the old key', async () => {
        const browser = new Browser(a.url);
        const { key, version } = await login(browser);
        const copied = browser.clone(b.url);
        const stale = browser.clone(b.url).request('POST', '/put?gate=stale', { fields: { cart: ['x'] } });
        await gates.arrival('stale');
        expect((await browser.request('POST', '/rotate')).status).toBe(200);
        const rotated = browser.cookie(COOKIE)!;
        expect(rotated).not.toBe(key);
        expect(writesOf(calls, rotated).map((c) => c.opts!['ifVersion'])).toEqual([0]);
        expect((await stored(rotated))!.version).toBe(1);
        gates.open('stale');
        expect((await stale).status).toBe(200);

        expect(await replicas.a.get(key)).toBeUndefined();
        expect(conflicts).toEqual([{ key, ifVersion: version, currentVersion: 0 }]);
        expect((await copied.request('GET', '/state')).json).toEqual({ isNew: true, data: {} });
        expect((await browser.clone(b.url).request('POST', '/put', { fields: { after: 1 } })).status).toBe(200);
        expect(await stored(rotated)).toEqual({ version: 2, data: { user: 'ada', after: 1 } });
        expect(await liveSessions(replicas.a, calls)).toEqual([rotated]);
      });

      it('six concurrent changes over both replicas, released at once: exactly one is written, whole', async () => {
        const K = 6;
        const browser = new Browser(a.url);
        const { key, version } = await login(browser);
        const before = callsOf(calls, 'set', key).length;
        const requests = Array.from({ length: K }, (_, i) =>
          browser.clone(i % 2 === 0 ? a.url : b.url).request('POST', `/put?gate=c${i}`, { fields: { winner: i, [`only${i}`]: true } }),
        );
        await Promise.all(Array.from({ length: K }, (_, i) => gates.arrival(`c${i}`)));
        for (let i = 0; i < K; i++) gates.open(`c${i}`);
        expect((await Promise.all(requests)).map((r) => r.status)).toEqual(Array(K).fill(200));

        const sets = callsOf(calls, 'set', key).slice(before);
        expect(sets.map((c) => c.outcome).sort()).toEqual(['CONFLICT', 'CONFLICT', 'CONFLICT', 'CONFLICT', 'CONFLICT', 'ok']);
        const after = (await stored(key))!;
        const winner = after.data['winner'] as number;
        expect(after).toEqual({ version: version + 1, data: { user: 'ada', winner, [`only${winner}`]: true } });
        expect(conflicts).toEqual(Array(K - 1).fill({ key, ifVersion: version, currentVersion: version + 1 }));
      });
    });
  }
});
