import type { BackgroundReport } from './background-error.js';

/**
 * Runs `task` every `everyMs` ms in the background, one run at a time: a tick that comes while
 * the last run is still going is skipped. A slow or paused backend so never gathers a queue of
 * runs, each of which would take a connection from the application's calls once it answers.
 * A failure goes to `report` under `operation`; the timer does not keep the process alive.
 * Stop it with `clearInterval`.
 */
export function repeatInBackground(
  task: () => Promise<unknown>,
  everyMs: number,
  report: BackgroundReport,
  operation: string,
): NodeJS.Timeout {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    let run: Promise<unknown>;
    try {
      run = task();
    } catch (err) {
      run = Promise.reject(err);
    }
    run.catch((err: unknown) => report(err, operation)).finally(() => void (running = false));
  }, everyMs);
  timer.unref();
  return timer;
}
