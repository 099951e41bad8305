import { settleWithin } from './deadline.js';
/** A sample older than this is refreshed by the next call that sends a deadline. */
export const CLOCK_REFRESH_MS = 60_000;

/** The rejection of a clock sample that got no answer within its limit. */
export class ClockSampleTimeout extends Error {
  constructor(readonly ms: number) {
    super(`the server did not answer the clock sample within ${ms} ms`);
  }
}

/**
 * A lower bound of (server clock − our clock) in ms, added to every deadline sent, so the
 * server refuses a call no later than our clock says its deadline passed, whichever way the
 * clocks differ. Sampled before the first call that sends a deadline, then refreshed in the
 * background by the first such call a minute after the last sample (no timer); a refusal as
 * late also raises it. Nothing per call but `now >= refreshAt` once sampled.
 */
export class ServerClock {
  /** Lower bound of server clock − our clock, ms. */
  offsetMs = 0;
  /** On our clock: from then on, a call (re)samples. 0 until the first sample succeeds. */
  refreshAt = 0;
  private sampled = false;
  private sampling: Promise<void> | undefined;

  /**
   * @param read One sample, answered within `limitMs`: the server's epoch ms minus `Date.now()`
   *   read when the answer came.
   */
  constructor(private readonly read: (limitMs: number) => Promise<number>) {}

  /**
   * For a call that found `now >= refreshAt`. Before the first sample: the sample, which the
   * call awaits before it sends anything (rejects if the sample fails, or with
   * {@link ClockSampleTimeout} after `limitMs`). After: starts a refresh if none runs and
   * returns undefined; a failed refresh keeps the old value and the next call tries again.
   */
  due(limitMs: number): Promise<void> | undefined {
    if (!this.sampled) return (this.sampling ??= this.sample(limitMs));
    if (this.sampling === undefined) {
      this.refreshAt = Date.now() + CLOCK_REFRESH_MS; // one refresh at a time
      // Not silent in effect: a server that does not answer the sample fails the calls themselves.
      this.sampling = this.sample(limitMs);
      this.sampling.catch(() => {});
    }
    return undefined;
  }

  /** After a refusal as late carrying the server's time: a lower bound as well, and a fresher one. */
  learn(serverNow: number, now: number): void {
    this.offsetMs = serverNow - now;
  }

  private sample(limitMs: number): Promise<void> {
    return settleWithin(this.read(limitMs), limitMs, () => new ClockSampleTimeout(limitMs)).then(
      (offset) => {
        this.offsetMs = offset;
        this.sampled = true;
        this.refreshAt = Date.now() + CLOCK_REFRESH_MS;
        this.sampling = undefined;
      },
      (err: unknown) => {
        this.sampling = undefined;
        this.refreshAt = 0; // the next call samples again
        throw err;
      },
    );
  }
}
