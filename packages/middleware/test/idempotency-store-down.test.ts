// The store fails just as the handler ends: the response still goes out, a retry waits
// (503 or 409) instead of running the handler again, every failure is reported, and the
// response is stored in the background once the backend answers again, then replayed.
// Memory is not here: it has no backend to pause.
import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends, freshNamespace, type Pause, type StoreSet } from '@stowage/test-stores';
import express from 'express';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { idempotency } from '../src/express.js';
import { headerOf, listen, postJson, type RawResponse, type Running } from './http.js';

await describeStoreBackends(
  (backend) => {
    let set: StoreSet;
    let app: Running;
    let runs = 0;
    let pause: Pause | undefined;
    const reports: string[] = [];

    beforeAll(async () => {
      set = await backend.open(freshNamespace());
      const store = set.idempotency();
      const a = express();
      a.use(express.json());
      // A lease that outlives the pause: the key stays held while storing is retried. The time
      // limit leaves room for a loaded machine on the calls made before the pause.
      a.use(
        idempotency({ store, leaseMs: 8000, timeoutMs: 1000, onStoreError: (e, ctx) => void reports.push(`${ctx.middleware} ${e.code}`) }),
      );
      a.post('/orders', async (req, res) => {
        const run = ++runs;
        if (req.body.pause === true) pause = await set.pause(2500);
        res.status(201).set('X-Run', String(run)).json({ run });
      });
      app = await listen(a);
      expect((await postJson(`${app.url}/orders`, 'warm-up', {})).status).toBe(201); // the tables exist
    });
    afterAll(async () => {
      await app.close();
      await set.close();
    });

    it('keeps trying to store the response while the lease is held, so a retry never runs the handler again', async () => {
      const url = `${app.url}/orders`;
      runs = 0;
      const first = await postJson(url, 'k-down', { pause: true });
      expect([first.status, headerOf(first, 'x-run')]).toEqual([201, '1']);
      expect(reports.filter((r) => r === 'idempotency TIMEOUT').length).toBeGreaterThanOrEqual(1); // storing it failed

      const statuses: number[] = [];
      let replay: RawResponse | undefined;
      const started = Date.now();
      while (replay === undefined && Date.now() - started < 10_000) {
        const r = await postJson(url, 'k-down', { pause: true });
        if (headerOf(r, 'idempotent-replayed') === 'true') replay = r;
        else {
          statuses.push(r.status);
          await sleep(100);
        }
      }
      await pause!.over;
      expect(runs).toBe(1);
      expect(statuses.every((s) => s === 503 || s === 409)).toBe(true);
      expect(replay).toBeDefined();
      expect([replay!.status, headerOf(replay!, 'x-run')]).toEqual([201, '1']);
      expect(replay!.body.equals(first.body)).toBe(true);
      // Every failure was reported as a store failure; none says the key was lost.
      expect(reports.length).toBeGreaterThanOrEqual(2);
      expect(reports.filter((r) => r !== 'idempotency TIMEOUT' && r !== 'idempotency UNAVAILABLE')).toEqual([]);
    });
  },
  ['sqlite', 'postgres', 'redis'],
);
