import type { HealthOptions, HealthResult } from './contracts/common.js';
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

/** The default of {@link HealthOptions.timeoutMs}. */
const HEALTH_TIMEOUT_MS = 2000;

/**
 * `health()` of a store (see `Healthy`): `{ ok: false, error: 'the store is closed' }` once
 * closed (nothing sent), a malformed `opts` reported the same way (a health check never
 * throws), else `probe(timeoutMs)`, the backend's own check (which never throws either).
 */
export async function storeHealth(
  closed: boolean,
  opts: HealthOptions | undefined,
  probe: (timeoutMs: number) => Promise<HealthResult>,
): Promise<HealthResult> {
  if (closed) return { ok: false, latencyMs: 0, error: 'the store is closed' };
  const timeoutMs = (opts as { timeoutMs?: unknown } | undefined)?.timeoutMs ?? HEALTH_TIMEOUT_MS;
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000) {
    return { ok: false, latencyMs: 0, error: 'opts.timeoutMs must be an integer from 1 to 60000' };
  }
  return probe(timeoutMs);
}
