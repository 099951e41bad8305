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

const PAUSE_MS = 1500;
const TIMEOUT_MS = 1000;

await describeStoreBackends(
  (backend) => {
    let set: StoreSet;
    let app: Running;
    const errors: string[] = [];
    const onStoreError = (e: { code: string }, ctx: { middleware: string }) => void errors.push(`${ctx.middleware} ${e.code}`);
    const runs = new Map<string, number>();
    const stores = {} as { rateLimits: object; idempotency: object; csrf: ReturnType<StoreSet['csrf']> };

    beforeAll(async () => {
      set = await backend.open(freshNamespace());
      const rateLimits = set.rateLimits();
      const idempotencyStore = set.idempotency();
      Object.assign(stores, { rateLimits, idempotency: idempotencyStore, csrf: set.csrf() });
      const a = express();
      a.use(express.json());
      const policies = { name: 'p', algorithm: 'fixed-window', limit: 5, windowMs: 600_000 } as const;
      a.get(
        '/limited',
        rateLimit({ store: rateLimits, policies, key: () => 'client', timeoutMs: TIMEOUT_MS, onStoreError }),
        (_q, r) => void r.json({}),
      );
      a.post('/orders', idempotency({ store: idempotencyStore, timeoutMs: TIMEOUT_MS, onStoreError }), (req, res) => {
        const key = String(req.headers['idempotency-key']);
        runs.set(key, (runs.get(key) ?? 0) + 1);
        res.status(201).json({ key });
      });
      a.post(
        '/transfer',
        csrf({ store: stores.csrf, consume: true, sessionId: () => 'session', timeoutMs: TIMEOUT_MS, onStoreError }),
        (_q, r) => void r.json({}),
      );
      app = await listen(a);
    });
    afterAll(async () => {
      await app.close();
      await set.close();
    });

    it('rateLimit: 503 while the backend is paused, and that request is not counted', async () => {
      const first = await send(`${app.url}/limited`);
      expect([first.status, headerOf(first, 'ratelimit')]).toEqual([200, expect.stringMatching(/^"p";r=4;t=\d+$/)]);
      errors.length = 0;
      const pause = await set.pause(PAUSE_MS);
      const during = await send(`${app.url}/limited`);
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
      const during = await postJson(`${app.url}/orders`, 'k-paused', { n: 1 });
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
      const transfer = () => send(`${app.url}/transfer`, { method: 'POST', headers: { 'x-csrf-token': token } });
      errors.length = 0;
      const pause = await set.pause(PAUSE_MS);
      const during = await transfer();
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
