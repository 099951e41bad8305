// One deadline from the request to the backend: a paused backend makes the request 503 at
// the middleware's timeoutMs, and the call it could not finish never takes effect later, so
// the same request retried after the pause runs (and a 503 request was not counted).
// Memory is not here: it has no backend to pause (its calls run to their end at once).
import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import express from 'express';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { csrf, idempotency, rateLimit } from '../src/express.js';
import { headerOf, listen, postJson, send, type Running } from './http.js';

const PAUSE_MS = 2500; // the call under test reaches the middleware within 1.5 s of the pause starting, on a loaded machine too
const TIMEOUT_MS = 1000;

await describeStoreBackends(
  (backend) => {
    let set: StoreSet;
    /** The long deadline: every call that is not about the pause (first calls, warm-ups, calls after it). */
    let app: Running;
    /** The short deadline under test, on the same stores: only the call made while the backend is paused. */
    let paused: Running;
    const errors: string[] = [];
    const onStoreError = (e: { code: string }, ctx: { middleware: string }) => void errors.push(`${ctx.middleware} ${e.code}`);
    const runs = new Map<string, number>();
    const stores = {} as { rateLimits: object; idempotency: object; csrf: ReturnType<StoreSet['csrf']> };

    beforeAll(async () => {
      set = await backend.open(freshNamespace());
      const rateLimits = set.rateLimits();
      const idempotencyStore = set.idempotency();
      Object.assign(stores, { rateLimits, idempotency: idempotencyStore, csrf: set.csrf() });
      // Anchored at the first call: an epoch-aligned window could roll over between two calls of a test.
      const policies = { name: 'p', algorithm: 'anchored-window', limit: 5, windowMs: 600_000 } as const;
      // Both apps count, reserve and spend on the same stores: what one did, the other sees.
      const appWith = (timeoutMs: number) => {
        const a = express();
        a.use(express.json());
        a.get(
          '/limited',
          rateLimit({ store: rateLimits, policies, key: () => 'client', timeoutMs, onStoreError }),
          (_q, r) => void r.json({}),
        );
        a.post('/orders', idempotency({ store: idempotencyStore, timeoutMs, onStoreError }), (req, res) => {
          const key = String(req.headers['idempotency-key']);
          runs.set(key, (runs.get(key) ?? 0) + 1);
          res.status(201).json({ key });
        });
        a.post(
          '/transfer',
          csrf({ store: stores.csrf, consume: true, sessionId: () => 'session', timeoutMs, onStoreError }),
          (_q, r) => void r.json({}),
        );
        return listen(a);
      };
      // A slow moment of a loaded machine cannot fail a call that is not about the pause.
      app = await appWith(5000);
      paused = await appWith(TIMEOUT_MS);
    });
    afterAll(async () => {
      await app.close();
      await paused.close();
      await set.close();
    });

    it('rateLimit: 503 while the backend is paused, and that request is not counted', async () => {
      const first = await send(`${app.url}/limited`);
      expect([first.status, headerOf(first, 'ratelimit')]).toEqual([200, expect.stringMatching(/^"p";r=4;t=\d+$/)]);
      errors.length = 0;
      const pause = await set.pause(PAUSE_MS);
      const during = await send(`${paused.url}/limited`);
      await pause.over;
      await sleep(100);
      const after = await send(`${app.url}/limited`);
      expect(during.status).toBe(503);
      expect(errors).toEqual([expect.stringMatching(/^rateLimit (TIMEOUT|UNAVAILABLE)$/)]);
      expect([after.status, headerOf(after, 'ratelimit')]).toEqual([200, expect.stringMatching(/^"p";r=3;t=\d+$/)]);
    });

    it('idempotency: 503 while the backend is paused; the same request retried after the pause runs, once', async () => {
      expect((await postJson(`${app.url}/orders`, 'warm-up', {})).status).toBe(201); // the tables exist
      errors.length = 0;
      const pause = await set.pause(PAUSE_MS);
      const during = await postJson(`${paused.url}/orders`, 'k-paused', { n: 1 });
      await pause.over;
      await sleep(100);
      const retry = await postJson(`${app.url}/orders`, 'k-paused', { n: 1 });
      const replay = await postJson(`${app.url}/orders`, 'k-paused', { n: 1 });
      expect(during.status).toBe(503);
      expect(errors).toEqual([expect.stringMatching(/^idempotency (TIMEOUT|UNAVAILABLE)$/)]);
      expect([retry.status, headerOf(retry, 'idempotent-replayed')]).toEqual([201, undefined]);
      expect([replay.status, headerOf(replay, 'idempotent-replayed')]).toEqual([201, 'true']);
      expect(runs.get('k-paused')).toBe(1);
    });

    it('csrf: a consuming check the paused backend could not answer in time is 503 and does not spend the token', async () => {
      const token = await stores.csrf.issue('session', { ttlMs: 60_000 });
      const transfer = (on = app) => send(`${on.url}/transfer`, { method: 'POST', headers: { 'x-csrf-token': token } });
      errors.length = 0;
      const pause = await set.pause(PAUSE_MS);
      const during = await transfer(paused);
      await pause.over;
      await sleep(100);
      const after = await transfer();
      const again = await transfer();
      expect([during.status, after.status, again.status]).toEqual([503, 200, 403]);
      expect(errors).toEqual([expect.stringMatching(/^csrf (TIMEOUT|UNAVAILABLE)$/)]);
    });
  },
  ['sqlite', 'postgres', 'redis'],
);
