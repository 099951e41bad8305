import type { HealthResult } from './contracts/common.js';

/**
 * Runs `probe` and reports `{ ok, latencyMs, error? }`; never throws. A probe that takes
 * longer than `timeoutMs` counts as failed (it is not cancelled, only no longer awaited).
 */
export async function measureHealth(probe: () => Promise<unknown>, timeoutMs = 2000): Promise<HealthResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        timer.unref();
      }),
    ]);
    return { ok: true, latencyMs: performance.now() - started };
  } catch (err) {
    return { ok: false, latencyMs: performance.now() - started, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}
