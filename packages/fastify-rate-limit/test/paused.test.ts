// A backend that stops answering (SQLite, PostgreSQL, Redis; memory has no backend to pause):
// the store reports the error through the plugin's callback within timeoutMs, so the plugin's
// own skipOnError decides: 500 (fail closed) or the request let through unlimited (fail open).
// A hit whose call failed never counts later, once the backend is back.
import { describeStoreBackends, whilePaused } from '@stowage/test-stores';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type LimiterApp, limiterApp, openReplicas, type Replicas, statuses } from './app.js';

const PAUSE_MS = 2500; // two requests of up to TIMEOUT_MS each fit in it, with room to spare
const TIMEOUT_MS = 300;

await describeStoreBackends(
  (backend) => {
    let replicas: Replicas;
    beforeAll(async () => {
      replicas = await openReplicas(backend);
    });
    afterAll(() => replicas.close());

    for (const skipOnError of [false, true]) {
      const outcome = skipOnError ? '200 without a limit (skipOnError)' : '500 (fail closed)';
      it(`a paused backend: ${outcome} before it is back; the failed hits never count, on either replica`, async () => {
        const options = { max: 3, timeWindow: 60_000, skipOnError };
        const prefix = `paused-${skipOnError}:`;
        // The calls before and after the pause keep the apps' long deadline: only the paused
        // replica's own app (same store, same prefix) has the short one under test, so a slow
        // moment of a loaded machine cannot fail a call that is not about the pause.
        const apps: LimiterApp[] = [
          await limiterApp(replicas.stores[0], options, { prefix }),
          await limiterApp(replicas.stores[1], options, { prefix }),
          await limiterApp(replicas.stores[0], options, { timeoutMs: TIMEOUT_MS, prefix }),
        ];
        const [a, b, paused] = apps as [LimiterApp, LimiterApp, LimiterApp];
        try {
          expect(await statuses([a], '/ok', 'jan', 1)).toEqual([200]); // the tables exist, one hit counted
          const { result: during, answeredBeforeBack } = await whilePaused(replicas.sets[0]!, PAUSE_MS, async () => [
            await paused.get('/ok', 'jan'),
            await paused.get('/ok', 'jan'),
          ]);
          expect(answeredBeforeBack).toBe(true);
          if (skipOnError) {
            // The plugin lets them through as if nothing were counted: remaining max, reset 0.
            expect(during).toEqual([0, 1].map(() => ({ status: 200, limit: '3', remaining: '3', reset: '0', retryAfter: undefined })));
            expect(paused.errors).toEqual([]);
          } else {
            expect(during.map((r) => r.status)).toEqual([500, 500]);
            expect(paused.errors).toEqual([
              expect.stringMatching(/^500 (TIMEOUT|UNAVAILABLE)$/),
              expect.stringMatching(/^500 (TIMEOUT|UNAVAILABLE)$/),
            ]);
          }
          // Back: the count goes on from the one hit made before the pause, whichever replica asks.
          expect(await statuses([b, a], '/ok', 'jan', 3)).toEqual([200, 200, 429]);
          expect([...a.errors, ...b.errors]).toEqual([]);
        } finally {
          for (const app of apps) await app.app.close();
        }
      });
    }
  },
  ['sqlite', 'postgres', 'redis'],
);
