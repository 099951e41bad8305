import type { RateLimitAlgorithm, RateLimitPolicy, RateLimitStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import { fulfilled } from '../helpers.js';
import { raceOnReplicas, twoReplicas } from '../replicas.js';

const ALGORITHMS: readonly RateLimitAlgorithm[] = ['gcra', 'fixed-window', 'sliding-window', 'anchored-window'];

/** Consumes raced across two instances on one namespace (see `replica-races.ts`). */
export function rateLimitReplicaTests(factory: StoreFactory<RateLimitStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  describe('replicas (two instances on one namespace)', () => {
    for (const algorithm of ALGORITHMS) {
      it(`${algorithm}: 200 consumes against 100 split over two replicas admit exactly 100`, async () => {
        const replicas = await twoReplicas(await open());
        const policy = { algorithm, limit: 100, windowMs: 3_600_000 };
        const decisions = fulfilled(await raceOnReplicas(replicas, 200, (s) => s.consume('hot', policy)));
        expect(decisions).toHaveLength(200);
        const allowed = decisions.filter((d) => d.allowed);
        expect(allowed).toHaveLength(100);
        expect(allowed.map((d) => d.remaining).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
        for (const s of replicas) expect(await s.peek('hot', policy)).toMatchObject({ allowed: false, remaining: 0 });
      });
    }

    it('anchored-window backoff on two replicas: 120 racing calls against 100 admit exactly 100, each its own count and window', async () => {
      const opened = await open();
      opened.clock.set(1_800_000_000_123);
      const replicas = await twoReplicas(opened);
      const p: RateLimitPolicy = { algorithm: 'anchored-window', limit: 100, windowMs: 1000, threshold: 90, onExceed: 'backoff' };
      const decisions = fulfilled(await raceOnReplicas(replicas, 120, (s) => s.consume('hot', p)));
      const allowed = decisions.filter((d) => d.allowed).sort((a, b) => b.remaining - a.remaining);
      expect(allowed.map((d) => d.remaining)).toEqual(Array.from({ length: 100 }, (_, i) => 99 - i));
      // Calls 1 to 90 share the first window; call 91 + k restarts one of 1000 * 2^k ms.
      expect(allowed.map((d) => d.resetMs)).toEqual([...Array(90).fill(1000), ...Array.from({ length: 10 }, (_, k) => 1000 * 2 ** k)]);
      const denied = decisions.filter((d) => !d.allowed);
      expect(denied.map((d) => d.retryAfterMs)).toEqual(Array(20).fill(512_000));
    });
  });
}
