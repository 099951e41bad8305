import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Runs a test's untimed warm-up (the first calls that connect, migrate and prepare), again
 * while it fails in a way `retryIf` says is the machine's slowness, up to `attempts` times,
 * `pauseMs` apart. Any other failure, or the last one, is thrown.
 */
export async function warmUpWithRetries<T>(
  work: () => Promise<T>,
  retryIf: (error: unknown) => boolean,
  { attempts = 5, pauseMs = 200 }: { attempts?: number; pauseMs?: number } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !retryIf(error)) throw error;
      await sleep(pauseMs);
    }
  }
}

/** A store call that ran out of time or found its backend unreachable (`TIMEOUT`, `UNAVAILABLE`). */
export const isTimeoutOrUnavailable = (error: unknown): boolean =>
  ['TIMEOUT', 'UNAVAILABLE'].includes((error as { code?: string } | undefined)?.code ?? '');
