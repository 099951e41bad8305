import { ErrorSource, normalizePolicies } from '../src/adapter-kit.js';
import type { RateLimitPolicy } from '../src/index.js';

export const source = new ErrorSource('@stowage/core', 'test');
export const norm = (p: RateLimitPolicy | RateLimitPolicy[]) => normalizePolicies(source, p);

/** A deterministic PRNG so failures reproduce: `rng(seed)(n)` is in `[0, n)`. */
export function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s % n;
  };
}
