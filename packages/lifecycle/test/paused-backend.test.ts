import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends } from '@stowage/test-stores';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { counts, effects, order, uniqueKey } from './http.js';
import { startReplicas, type Replicas } from './replicas.js';

const LIMIT_MS = 500; // the replicas paused: the limit under test
const PATIENT_LIMIT_MS = 5000; // the replicas for the calls after the pause, which must succeed
const PAUSE_MS = 3000; // well past every request of a test (the last starts at 280 ms, answered by ~800 ms)

// A backend that stops answering past every layer's limit (PostgreSQL: a table lock held by
// another connection; SQLite: another process's write lock; Redis: a network that holds the
// replicas' bytes). Memory has no backend to pause. Every request answered with a failure
// must leave nothing behind once the backend answers again: no count, no reservation.
await describeStoreBackends(
  (backend) => {
    let r: Replicas;
    // Two more replicas on the same data with a long limit, for what is checked after the pause:
    // only the requests under test go through the short limit, so a slow moment of a loaded
    // machine cannot fail a request that must succeed.
    let patient: Replicas;
    beforeAll(async () => {
      r = await startReplicas(backend, LIMIT_MS);
      patient = await startReplicas(backend, PATIENT_LIMIT_MS, r.namespace);
    });
    afterAll(async () => {
      await patient?.stop();
      await r?.stop();
    });

    it('requests answered 503 in time (500 by express-rate-limit) were not counted nor reserved, and run after the pause', async () => {
      const [a, b] = r.urls;
      const key = uniqueKey('paused');
      const pause = await r.pause(PAUSE_MS);
      const started = Date.now();
      const [o1, o2, ping] = await Promise.all([
        order(a, key, { effectAt: 10 }),
        order(b, key, { effectAt: 10 }),
        fetch(`${b}/ping`, { headers: { 'x-client': key } }).then((res) => res.status),
      ]);
      const answeredIn = Date.now() - started;
      expect([o1.status, o2.status, ping]).toEqual([503, 503, 500]);
      expect(o1.retryAfter).toBe('1');
      expect(answeredIn).toBeLessThan(PAUSE_MS); // by the limit, not by the end of the pause
      await pause.over;
      await sleep(500); // calls queued behind the pause reach the backend, and are refused

      const [pa, pb] = patient.urls;
      expect(await counts(pa, key)).toEqual({ orders: 0, pings: 0 });
      const retry = await order(pb, key, { effectAt: 10 });
      expect(retry).toMatchObject({ status: 201, replayed: false });
      expect(await effects(pa, key)).toHaveLength(1);
      expect((await fetch(`${pa}/ping`, { headers: { 'x-client': key } })).status).toBe(200);
      expect(await counts(pa, key)).toEqual({ orders: 1, pings: 1 });
    });

    it('a retry storm through the pause: every request answered 503 is forgotten, the first one after it runs once', async () => {
      const key = uniqueKey('paused-storm');
      const pause = await r.pause(PAUSE_MS);
      const during = await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          await sleep(i * 40);
          return order(r.urls[i % 2]!, key, { effectAt: 10 });
        }),
      );
      await pause.over;
      await sleep(500);
      for (const answer of during) expect(answer.status).toBe(503);
      expect(await counts(patient.urls[0], key)).toEqual({ orders: 0, pings: 0 });

      const afterwards = await Promise.all(
        Array.from({ length: 8 }, (_, i) => order(patient.urls[i % 2]!, key, { effectAt: 200, answerAt: 300 })),
      );
      const ran = afterwards.filter((x) => x.status === 201 && !x.replayed);
      expect(ran).toHaveLength(1);
      for (const answer of afterwards) expect([201, 409]).toContain(answer.status);
      expect(await effects(patient.urls[1], key)).toHaveLength(1);
      expect(await counts(patient.urls[1], key)).toEqual({ orders: 8, pings: 0 });
    });
  },
  ['sqlite', 'postgres', 'redis'],
);
