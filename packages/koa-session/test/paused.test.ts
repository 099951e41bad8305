// A backend that stops answering: koa-session has no fail-open option, so the store's error
// (TIMEOUT or UNAVAILABLE, within timeoutMs) goes to Koa's error handling, which answers 500;
// the process serves on, and a call reported failed never takes effect later (checked after
// the pause, when the held calls have reached the backend).
// Memory is not here: it has no backend to pause.
import { setTimeout as sleep } from 'node:timers/promises';
import { jsonCodec } from '@stowage/core';
import { describeStoreBackends } from '@stowage/test-stores';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StowageKoaSessionStore } from '../src/index.js';
import { COOKIE, koaApp, type RunningApp } from './app.js';
import { Browser } from '@stowage/test-stores';
import { openReplicas, type Replicas } from './replicas.js';

const PAUSE_MS = 2500; // four requests of up to TIMEOUT_MS each fit in it, with room to spare
const TIMEOUT_MS = 300;

await describeStoreBackends(
  (backend) => {
    describe('a paused backend', () => {
      let replicas: Replicas;
      let a: RunningApp;
      let b: RunningApp;
      beforeAll(async () => {
        replicas = await openReplicas(backend);
        // The tables exist before the first request (made within the time limit on a loaded machine).
        await replicas.a.get('warm-up');
        await replicas.b.get('warm-up');
        a = await koaApp(new StowageKoaSessionStore({ store: replicas.a, timeoutMs: TIMEOUT_MS }), { rolling: true });
        b = await koaApp(new StowageKoaSessionStore({ store: replicas.b, timeoutMs: TIMEOUT_MS }), { rolling: true });
      });
      afterAll(async () => {
        await a.close();
        await b.close();
        await replicas.close();
      });

      it('each request on it answers 500 from Koa; none of its changes is stored, even later; the app serves on', async () => {
        const browser = new Browser(a.url);
        expect((await browser.request('POST', '/login', { user: 'ada' })).status).toBe(200); // the tables exist now
        expect((await browser.request('POST', '/put', { fields: { cart: ['book'] } })).status).toBe(200);
        const key = browser.cookie(COOKIE)!;
        const before = (await replicas.b.get(key))!;
        a.errors.length = 0;

        const pause = await replicas.setA.pause(PAUSE_MS);
        const change = await browser.request('POST', '/put', { fields: { cart: ['lost'] } });
        const read = await browser.request('GET', '/peek'); // rolling: its refresh is a write too
        const login = await new Browser(a.url).request('POST', '/login', { user: 'bob' }); // a new session: only a save
        const logout = await browser.request('POST', '/logout');
        await pause.over;
        await sleep(200); // what the backend held has reached it

        expect([change.status, read.status, login.status, logout.status]).toEqual([500, 500, 500, 500]);
        expect(change.json).toBe('Internal Server Error'); // Koa's own answer: nothing of the error is exposed
        expect(a.errors).toHaveLength(4);
        for (const code of a.errors) expect(['TIMEOUT', 'UNAVAILABLE']).toContain(code);
        // None took effect: same version, same bytes, still logged in.
        const after = (await replicas.b.get(key))!;
        expect(after.version).toBe(before.version);
        expect(jsonCodec.decode(after.data, key)).toEqual(jsonCodec.decode(before.data, key));
        expect((await browser.clone(b.url).request('GET', '/state')).json.data).toEqual({ user: 'ada', cart: ['book'] });
        // The same app, same process, answers again.
        expect((await browser.request('GET', '/state')).json).toEqual({ isNew: false, data: { user: 'ada', cart: ['book'] } });
        expect((await new Browser(a.url).request('POST', '/login', { user: 'cy' })).status).toBe(200);
      });
    });
  },
  ['sqlite', 'postgres', 'redis'],
);
