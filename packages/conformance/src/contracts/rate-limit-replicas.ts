import type { RateLimitAlgorithm, RateLimitStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import { fulfilled } from '../helpers.js';
import { raceOnReplicas, twoReplicas } from '../replicas.js';

const ALGORITHMS: readonly RateLimitAlgorithm[] = ['gcra', 'fixed-window', 'sliding-window'];

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
  });
}
