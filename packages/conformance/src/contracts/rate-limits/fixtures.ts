import type { RateLimitPolicy, RateLimitStore } from '@stowage/core';
import { ErrorSource, evaluateRateLimit, normalizePolicies, type RateLimitState } from '@stowage/core/adapter-kit';
import type { opener } from '../../context.js';

/** What each part of the contract gets to open its stores. */
export type RateLimitOpen = ReturnType<typeof opener<RateLimitStore>>;

const refSource = new ErrorSource('@stowage/conformance', 'reference');

/** Replays calls against the reference functions of @stowage/core. */
export class ReferenceModel {
  private readonly states = new Map<string, RateLimitState>();

  call(policy: RateLimitPolicy | RateLimitPolicy[], now: number, cost: number, consume: boolean) {
    const ps = normalizePolicies(refSource, policy);
    const out = evaluateRateLimit(
      ps,
      ps.map((p) => this.states.get(p.id)),
      now,
      cost,
      consume,
    );
    out.writes?.forEach((w, i) => {
      if (w) this.states.set(ps[i]!.id, w.state);
      else this.states.delete(ps[i]!.id);
    });
    return out.decision;
  }
}

export function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s % n;
  };
}
