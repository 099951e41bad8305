import { jsonCodec, type SessionStore } from '@stowage/core';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StowageSessionStore, type SessionWriteConflict } from '../src/index.js';
import type { RunningApp } from './apps.js';
import { Gates } from '@stowage/test-stores';
import { Browser, sessionIdOf } from './http.js';
import { expressRaceApp, fastifyRaceApp } from './race-apps.js';
import { liveSessions, recording, writesOf, type StoreCall } from './recording-store.js';

// `endSaves`: writes a framework makes at the end of a request that already saved. express-
// session does none; @fastify/session (rolling by default) saves every response.
const FRAMEWORKS = [
  { name: 'express-session', app: expressRaceApp, cookie: 'connect.sid', endSaves: 0 },
  { name: '@fastify/session', app: fastifyRaceApp, cookie: 'sessionId', endSaves: 1 },
] as const;

await describeStoreBackends((backend) => {
  for (const fw of FRAMEWORKS) {
    describe(`${fw.name}: a request's write never resurrects or overwrites a newer session`, () => {
      let set: StoreSet;
      let sessions: SessionStore;
      let calls: StoreCall[];
      let conflicts: SessionWriteConflict[];
      let gates: Gates;
      let app: RunningApp;
      beforeAll(async () => {
        set = await backend.open(freshNamespace());
        sessions = set.sessions();
      });
      afterAll(async () => {
        await set.close();
      });
      beforeEach(async () => {
        const rec = recording(sessions);
        calls = rec.calls;
        conflicts = [];
        gates = new Gates();
        const store = new StowageSessionStore({ store: rec.store });
        store.on('conflict', (c: SessionWriteConflict) => conflicts.push(c));
        app = await fw.app(store, gates);
      });
      afterEach(async () => {
        await app.close();
      });

      const login = async (browser: Browser): Promise<{ sid: string; version: number }> => {
        expect((await browser.request('POST', '/login', { user: 'ada' })).status).toBe(200);
        const sid = sessionIdOf(browser.cookie(fw.cookie))!;
        return { sid, version: (await sessions.get(sid))!.version };
      };
      const stored = async (sid: string) => {
        const record = await sessions.get(sid);
        if (record === undefined) return undefined;
        const { cookie: _cookie, ...data } = jsonCodec.decode(record.data, sid) as Record<string, unknown>;
        return { version: record.version, data };
      };

      it('logout during a slow modifying request: the session stays gone, the old cookie gets none', async () => {
        const browser = new Browser(app.url);
        const { sid, version } = await login(browser);
        const slow = browser.request('POST', '/put?gate=slow', { fields: { cart: ['book'] } });
        await gates.arrival('slow'); // loaded at `version`
        expect((await browser.clone().request('POST', '/logout')).status).toBe(200);
        const writesBefore = writesOf(calls).length;
        gates.open('slow');
        expect((await slow).status).toBe(200);

        expect(writesOf(calls).length).toBe(writesBefore); // the slow request wrote nothing
        expect(conflicts).toEqual([{ sid, ifVersion: version, currentVersion: 0 }]);
        expect(await liveSessions(sessions, calls)).toEqual([]);
        expect((await browser.request('GET', '/state')).json).toEqual({ has: true, data: {} });
        expect(await liveSessions(sessions, calls)).toEqual([]);
      });

      it('logout during a slow read-only request: its touch or rolling save recreates nothing', async () => {
        const browser = new Browser(app.url);
        const { sid } = await login(browser);
        const slow = browser.request('GET', '/state?gate=slow');
        await gates.arrival('slow');
        await browser.clone().request('POST', '/logout');
        const writesBefore = writesOf(calls).length;
        gates.open('slow');
        expect((await slow).json).toEqual({ has: true, data: { user: 'ada' } });

        expect(writesOf(calls).length).toBe(writesBefore);
        expect(await sessions.get(sid)).toBeUndefined();
        expect(await liveSessions(sessions, calls)).toEqual([]);
        // express-session touches (the store answers false); @fastify/session saves and loses.
        const touches = calls.filter((c) => c.method === 'touch');
        expect(touches.map((c) => c.result)).toEqual(fw.endSaves === 0 ? [false] : []);
        expect(conflicts.length).toBe(fw.endSaves);
      });

      it('two concurrent modifying requests: the first write wins whole, the second is dropped', async () => {
        const browser = new Browser(app.url);
        const { sid, version } = await login(browser);
        const a = browser.request('POST', '/put?gate=a', { fields: { owner: 'a', items: ['a1', 'a2'], a: true } });
        const b = browser.clone().request('POST', '/put?gate=b', { fields: { owner: 'b', items: ['b1'], b: true } });
        await Promise.all([gates.arrival('a'), gates.arrival('b')]); // both read `version`
        gates.open('a');
        expect((await a).status).toBe(200);
        gates.open('b');
        expect((await b).status).toBe(200);

        expect(await stored(sid)).toEqual({ version: version + 1, data: { user: 'ada', owner: 'a', items: ['a1', 'a2'], a: true } });
        const writes = writesOf(calls, sid);
        expect(writes.length).toBe(version + 1);
        expect(writes.at(-1)!.opts!['ifVersion']).toBe(version);
        expect(conflicts).toEqual([{ sid, ifVersion: version, currentVersion: version + 1 }]);
        expect(await liveSessions(sessions, calls)).toEqual([sid]);
        expect((await browser.request('GET', '/state')).json.data).toEqual({ user: 'ada', owner: 'a', items: ['a1', 'a2'], a: true });
      });

      it('a second save in one request writes on top of its first, while a stale one is dropped', async () => {
        const browser = new Browser(app.url);
        const { sid, version } = await login(browser);
        const x = browser.request('POST', '/put-twice?first=x1&second=x2', { first: { step: 1 }, second: { step: 2, done: true } });
        const y = browser.clone().request('POST', '/put?gate=y', { fields: { step: 'y' } });
        await Promise.all([gates.arrival('x1'), gates.arrival('y')]); // both read `version`
        gates.open('x1');
        await gates.arrival('x2'); // x saved once
        expect(await stored(sid)).toEqual({ version: version + 1, data: { user: 'ada', step: 1 } });
        gates.open('y');
        expect((await y).status).toBe(200);
        expect(conflicts).toEqual([{ sid, ifVersion: version, currentVersion: version + 1 }]);
        gates.open('x2');
        expect((await x).status).toBe(200);

        const end = version + 2 + fw.endSaves;
        expect(await stored(sid)).toEqual({ version: end, data: { user: 'ada', step: 2, done: true } });
        expect(conflicts.length).toBe(1);
      });

      it('regenerate: the new id starts at version 1, and a stale request cannot revive the old id', async () => {
        const browser = new Browser(app.url);
        const { sid, version } = await login(browser);
        const stolen = browser.clone();
        const stale = browser.clone().request('POST', '/put?gate=stale', { fields: { cart: ['x'] } });
        await gates.arrival('stale');
        expect((await browser.request('POST', '/rotate')).status).toBe(200);
        const rotated = sessionIdOf(browser.cookie(fw.cookie))!;
        expect(rotated).not.toBe(sid);
        const onRotated = writesOf(calls, rotated);
        expect(onRotated[0]!.opts!['ifVersion']).toBe(0);
        expect((await stored(rotated))!.version).toBe(onRotated.length);
        gates.open('stale');
        expect((await stale).status).toBe(200);

        expect(await sessions.get(sid)).toBeUndefined();
        expect(conflicts).toEqual([{ sid, ifVersion: version, currentVersion: 0 }]);
        expect((await stolen.request('GET', '/state')).json.data).toEqual({});
        expect((await browser.request('POST', '/put', { fields: { after: 1 } })).status).toBe(200);
        expect(await stored(rotated)).toEqual({ version: onRotated.length + 1, data: { user: 'ada', after: 1 } });
        expect(await liveSessions(sessions, calls)).toEqual([rotated]);
      });
    });
  }
});
