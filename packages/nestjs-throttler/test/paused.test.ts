// A backend that stops answering (SQLite, PostgreSQL, Redis; memory has no backend to pause):
// @nestjs/throttler has no option to let requests through when its storage fails, so the
// guard's error reaches Nest, which answers 500 (fail closed) within timeoutMs. A hit whose
// call failed never counts later, once the backend is back.
import { describeStoreBackends, whilePaused } from '@stowage/test-stores';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logged, type NestApp, nestApp, openReplicas, PLATFORMS, type Replicas, roomInWindow, statuses } from './app.js';

const PAUSE_MS = 2500; // two requests of up to TIMEOUT_MS each fit in it, with room to spare
const TIMEOUT_MS = 300;

await describeStoreBackends(
  (backend) => {
    for (const platform of PLATFORMS) {
      describe(platform, () => {
        let replicas: Replicas;
        let apps: [NestApp, NestApp, NestApp];
        beforeAll(async () => {
          replicas = await openReplicas(backend);
          const throttlers = [{ name: 'default', limit: 3, ttl: 60_000 }];
          // The replicas keep the long deadline for the calls before and after the pause; only
          // the third app (replica 0's store) has the short one under test, so a slow moment of
          // a loaded machine cannot fail a call that is not about the pause.
          apps = [
            await nestApp(platform, replicas.stores[0], throttlers),
            await nestApp(platform, replicas.stores[1], throttlers),
            await nestApp(platform, replicas.stores[0], throttlers, { timeoutMs: TIMEOUT_MS }),
          ];
        });
        afterAll(async () => {
          for (const app of apps) await app.close();
          await replicas.close();
        });

        it('a paused backend: 500 before it is back, the error logged; the failed hits never count, on either replica', async () => {
          const [a, b, paused] = apps;
          await roomInWindow(60_000, PAUSE_MS + 5000);
          expect(await statuses([a], '/ok', 'jan', 1)).toEqual([200]); // the tables exist, one hit counted
          logged.length = 0;
          const { result: during, answeredBeforeBack } = await whilePaused(replicas.sets[0]!, PAUSE_MS, async () => [
            await paused.get('/ok', 'jan'),
            await paused.get('/ok', 'jan'),
          ]);
          expect(answeredBeforeBack).toBe(true);
          expect(during.map((r) => r.status)).toEqual([500, 500]);
          expect(logged).toHaveLength(2);
          for (const error of logged) expect(error).toMatch(/TIMEOUT|UNAVAILABLE|did not answer|deadline/i);
          logged.length = 0;
          // Back: the count goes on from the one hit made before the pause, whichever replica asks.
          expect(await statuses([b, a], '/ok', 'jan', 3)).toEqual([200, 200, 429]);
          expect(logged).toEqual([]);
        });
      });
    }
  },
  ['sqlite', 'postgres', 'redis'],
);
