// A real Nest application (Express and Fastify) with the real ThrottlerGuard on every backend,
// two replicas over one namespace: exact admitted counts, headers, blocks on every replica.
import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends } from '@stowage/test-stores';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { logged, type NestApp, nestApp, nextWindow, openReplicas, PLATFORMS, type Replicas, roomInWindow, statuses } from './app.js';

await describeStoreBackends((backend) => {
  for (const platform of PLATFORMS) {
    describe(platform, () => {
      let replicas: Replicas;
      let apps: [NestApp, NestApp];
      beforeAll(async () => {
        replicas = await openReplicas(backend);
        const throttlers = [{ name: 'default', limit: 10, ttl: 60_000 }]; // blockDuration: the ttl
        apps = [await nestApp(platform, replicas.stores[0], throttlers), await nestApp(platform, replicas.stores[1], throttlers)];
      });
      afterAll(async () => {
        for (const app of apps) await app.close();
        await replicas.close();
      });
      beforeEach(() => roomInWindow(60_000, 5000)); // a 60 s test window holds all of a test's hits

      it('two replicas share the hits: 40 racing requests, exactly 10 admitted, each Remaining once; then blocked on both', async () => {
        const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => apps[i % 2]!.get('/ok', 'dave')));
        expect(logged).toEqual([]);
        const admitted = answers.filter((r) => r.status === 200);
        const refused = answers.filter((r) => r.status === 429);
        expect([admitted.length, refused.length]).toEqual([10, 30]);
        expect(admitted.map((r) => Number(r.remaining)).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        for (const r of admitted) {
          expect([r.limit, r.retryAfter]).toEqual(['10', undefined]);
          expect(Number(r.reset)).toBeGreaterThanOrEqual(1);
          expect(Number(r.reset)).toBeLessThanOrEqual(60);
        }
        // Blocked for blockDuration (60 s) from the hit over the limit: Retry-After is what is left of it.
        for (const r of refused) expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(59);
        for (const r of refused) expect(Number(r.retryAfter)).toBeLessThanOrEqual(60);
        expect(await statuses([apps[1], apps[0]], '/ok', 'dave', 2)).toEqual([429, 429]);
        expect(await statuses(apps, '/ok', 'erin', 2)).toEqual([200, 200]); // another client, its own count
      });

      it('a block outlasts its window and holds on every replica until blockDuration ends, then a fresh count', async () => {
        const [a, b] = apps;
        await nextWindow(1000);
        expect(await statuses([a, b, a], '/strict', 'fay', 3)).toEqual([200, 200, 429]); // limit 2 per 1 s
        const setBefore = Date.now(); // the block of 3.5 s was set before this
        expect([3, 4]).toContain(Number((await b.get('/strict', 'fay')).retryAfter));
        await nextWindow(1000); // the next window: its count is 0, the block still on
        expect(await b.get('/strict', 'fay')).toMatchObject({ status: 429 });
        await nextWindow(1000);
        expect(await statuses([a, b, a], '/strict', 'fay', 3)).toEqual([429, 429, 429]);
        await sleep(setBefore + 3500 + 100 - Date.now());
        await nextWindow(1000);
        expect(await statuses([b, a, b], '/strict', 'fay', 3)).toEqual([200, 200, 429]);
      });

      it('blockDuration 0: no block; a hit over the limit is refused until its window ends', async () => {
        const [a, b] = apps;
        await nextWindow(1000);
        expect(await statuses([a, b, a, b], '/unblocked', 'gus', 4)).toEqual([200, 200, 429, 429]);
        const refused = await a.get('/unblocked', 'gus');
        expect(refused.status).toBe(429);
        expect(refused.retryAfter).toBe('1'); // until the window ends
        await nextWindow(1000);
        expect(await b.get('/unblocked', 'gus')).toMatchObject({ status: 200, limit: '2', remaining: '1', reset: '1' });
      });
    });
  }
});
