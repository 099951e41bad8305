import { type CallBudget, settleWithin } from './deadline.js';
import { steadyNow } from './steady-clock.js';

/** A sample older than this is refreshed by the next call that sends a deadline. */
export const CLOCK_REFRESH_MS = 60_000;

/** The rejection of a clock sample that got no answer within its limit. */
export class ClockSampleTimeout extends Error {
  constructor(readonly ms: number) {
    super(`the server did not answer the clock sample within ${ms} ms`);
  }
}

/**
 * A lower bound of (server clock − our clock) in ms, our clock being {@link steadyNow}, so that
 * the deadline a call sends (see {@link ServerClock.toServer}) makes the server refuse it no
 * later than our timer fails it, whichever way the clocks differ or ours steps. Sampled before the first call that sends a deadline, then refreshed in the
 * background by the first such call a minute after the last sample (no timer); a refusal as
 * late also raises it. Nothing per call but {@link ServerClock.isDue} once sampled.
 */
export class ServerClock {
  /** Lower bound of server clock − {@link steadyNow}, ms. */
  offsetMs = 0;
  /** On {@link steadyNow}'s clock: from then on, a call (re)samples ({@link isDue}). 0 until the first sample succeeds. */
  refreshAt = 0;
  private sampled = false;
  private sampling: Promise<void> | undefined;

  /**
   * @param read One sample, answered within `limitMs`: the server's epoch ms minus
   *   {@link steadyNow} read when the answer came.
   */
  constructor(private readonly read: (limitMs: number) => Promise<number>) {}

  /**
   * For a call that found {@link isDue}. Before the first sample: the sample, which the
   * call awaits before it sends anything (rejects if the sample fails, or with
   * {@link ClockSampleTimeout} after `limitMs`). After: starts a refresh if none runs and
   * returns undefined; a failed refresh keeps the old value and the next call tries again.
   */
  due(limitMs: number): Promise<void> | undefined {
    if (!this.sampled) return (this.sampling ??= this.sample(limitMs));
    if (this.sampling === undefined) {
      this.refreshAt = steadyNow() + CLOCK_REFRESH_MS; // one refresh at a time
      // Not silent in effect: a server that does not answer the sample fails the calls themselves.
      this.sampling = this.sample(limitMs);
      this.sampling.catch(() => {});
    }
    return undefined;
  }

  /**
   * The end of `budget` on the server's clock, in whole ms, 1 ms early: Node may fire the
   * budget's timer up to about a millisecond early, and the server compares whole ms.
   */
  toServer(budget: CallBudget): number {
    return Math.floor(budget.steadyEnd + this.offsetMs) - 1;
  }

  /** Whether a call should (re)sample: the first, and the first a minute after the last sample. */
  isDue(): boolean {
    return steadyNow() >= this.refreshAt;
  }

  /**
   * `budget` as sent to the one server whose time `serverNow` (read just now, from a refusal as
   * late) is ahead of the offset: for a retry there that does not raise the offset shared with
   * other servers (a Cluster's masters, whose least offset it is).
   */
  forServerAt(budget: CallBudget, serverNow: number): CallBudget {
    return { ...budget, steadyEnd: budget.steadyEnd + Math.max(0, serverNow - (steadyNow() + this.offsetMs)) };
  }

  /** After a refusal as late carrying the server's time (read just now): a lower bound as well, and a fresher one. */
  learn(serverNow: number): void {
    this.offsetMs = serverNow - steadyNow();
  }

  private sample(limitMs: number): Promise<void> {
    return settleWithin(this.read(limitMs), limitMs, () => new ClockSampleTimeout(limitMs)).then(
      (offset) => {
        this.offsetMs = offset;
        this.sampled = true;
        this.refreshAt = steadyNow() + CLOCK_REFRESH_MS;
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
