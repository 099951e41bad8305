import type { HealthResult } from './contracts/common.js';
import { settleWithin } from './deadline.js';

/**
 * Runs `probe` and reports `{ ok, latencyMs, error? }`; never throws. A probe that takes
 * longer than `timeoutMs` counts as failed (it is not cancelled, only no longer awaited).
 */
export async function measureHealth(probe: () => Promise<unknown>, timeoutMs = 2000): Promise<HealthResult> {
  const started = performance.now();
  try {
    await settleWithin(Promise.resolve().then(probe), timeoutMs, () => new Error(`no answer within ${timeoutMs} ms`));
    return { ok: true, latencyMs: performance.now() - started };
  } catch (err) {
    return { ok: false, latencyMs: performance.now() - started, error: err instanceof Error ? err.message : String(err) };
  }
}
