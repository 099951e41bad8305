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
      let paused: RunningApp;
      beforeAll(async () => {
        replicas = await openReplicas(backend);
        // The calls before and after the pause keep a long deadline; only `paused` (replica a's
        // store) has the short one under test, so a slow moment of a loaded machine cannot fail
        // a call that is not about the pause.
        a = await koaApp(new StowageKoaSessionStore({ store: replicas.a, timeoutMs: 5000 }), { rolling: true });
        b = await koaApp(new StowageKoaSessionStore({ store: replicas.b, timeoutMs: 5000 }), { rolling: true });
        paused = await koaApp(new StowageKoaSessionStore({ store: replicas.a, timeoutMs: TIMEOUT_MS }), { rolling: true });
      });
      afterAll(async () => {
        await a.close();
        await b.close();
        await paused.close();
        await replicas.close();
      });

      /**
       * `send`'s answer once it is 200, sending it again for up to 5 s while it is a 500 from
       * `paused` missing its short deadline (TIMEOUT), as a loaded machine may make it.
       */
      async function served(send: () => ReturnType<Browser['request']>): ReturnType<Browser['request']> {
        const started = Date.now();
        for (;;) {
          const errors = paused.errors.length;
          const answer = await send();
          if (answer.status === 200 || Date.now() - started > 5000) {
            expect(answer.status).toBe(200);
            return answer;
          }
          expect([answer.status, ...paused.errors.slice(errors)]).toEqual([500, 'TIMEOUT']);
          await sleep(100);
        }
      }

      it('each request on it answers 500 from Koa; none of its changes is stored, even later; the app serves on', async () => {
        const browser = new Browser(a.url);
        expect((await browser.request('POST', '/login', { user: 'ada' })).status).toBe(200); // the tables exist now
        expect((await browser.request('POST', '/put', { fields: { cart: ['book'] } })).status).toBe(200);
        const key = browser.cookie(COOKIE)!;
        const before = (await replicas.b.get(key))!;
        const held = browser.clone(paused.url);

        const pause = await replicas.setA.pause(PAUSE_MS);
        const change = await held.request('POST', '/put', { fields: { cart: ['lost'] } });
        const read = await held.request('GET', '/peek'); // rolling: its refresh is a write too
        const login = await new Browser(paused.url).request('POST', '/login', { user: 'bob' }); // a new session: only a save
        const logout = await held.request('POST', '/logout');
        await pause.over;
        await sleep(200); // what the backend held has reached it

        expect([change.status, read.status, login.status, logout.status]).toEqual([500, 500, 500, 500]);
        expect(change.json).toBe('Internal Server Error'); // Koa's own answer: nothing of the error is exposed
        expect(paused.errors).toHaveLength(4);
        for (const code of paused.errors) expect(['TIMEOUT', 'UNAVAILABLE']).toContain(code);
        // None took effect: same version, same bytes, still logged in.
        const after = (await replicas.b.get(key))!;
        expect(after.version).toBe(before.version);
        expect(jsonCodec.decode(after.data, key)).toEqual(jsonCodec.decode(before.data, key));
        expect((await browser.clone(b.url).request('GET', '/state')).json.data).toEqual({ user: 'ada', cart: ['book'] });
        // The same app, same process, answers again (its deadline is still the short one: a
        // request that a loaded machine makes miss it is sent again, see `served`).
        const state = await served(() => held.request('GET', '/state'));
        expect(state.json).toEqual({ isNew: false, data: { user: 'ada', cart: ['book'] } });
        await served(() => new Browser(paused.url).request('POST', '/login', { user: 'cy' }));
        expect([...a.errors, ...b.errors]).toEqual([]);
      });
    });
  },
  ['sqlite', 'postgres', 'redis'],
);
