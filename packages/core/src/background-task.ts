import type { BackgroundReport } from './background-error.js';

/** A task repeated in the background by {@link repeatInBackground}. */
export interface BackgroundTask {
  /**
   * Stops the ticks, and resolves once the run in progress, if any, has ended and its failure
   * has been reported: after it, the task neither runs nor reports. Never rejects.
   */
  stop(): Promise<void>;
}

/**
 * Runs `task` every `everyMs` ms in the background, one run at a time: a tick that comes while
 * the last run is still going is skipped. A slow or paused backend so never gathers a queue of
 * runs, each of which would take a connection from the application's calls once it answers.
 * A failure goes to `report` under `operation`; the timer does not keep the process alive.
 * A store's `close()` awaits `stop()`, so that nothing it started outlives it (a statement
 * on a pool the caller ends next, a report after the caller moved on).
 */
export function repeatInBackground(
  task: () => Promise<unknown>,
  everyMs: number,
  report: BackgroundReport,
  operation: string,
): BackgroundTask {
  let current: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (current !== undefined) return;
    let run: Promise<unknown>;
    try {
      run = task();
    } catch (err) {
      run = Promise.reject(err);
    }
    current = run
      .then(
        () => undefined,
        (err: unknown) => report(err, operation),
      )
      .finally(() => void (current = undefined));
  }, everyMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      return current === undefined ? Promise.resolve() : current.catch(() => undefined);
    },
  };
}
