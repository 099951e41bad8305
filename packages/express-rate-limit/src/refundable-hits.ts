/**
 * The hits one store instance counted in a window that is still open, per key: what
 * `decrement` may take back.
 *
 * Why this is exact: express-rate-limit calls `decrement` once, in the process that counted
 * the hit, after the response, and only while `Date.now()` is before the `resetTime` that
 * `increment` returned for that hit. Windows are those of the backend's fixed-window
 * counter; each hit's decision says how long its window still runs (`resetMs`), so
 * `sentAt + resetMs` is never later than the window's true end (the backend read its clock
 * after `sentAt`). Hence:
 * - At most one window per key is open here: a hit of a later window can only be counted
 *   after the earlier window ended. A live entry therefore holds hits of one window only,
 *   and its `end` (the latest estimate seen) is still never after that window's true end.
 * - A refund taken from a live entry, sent with `end` as its deadline, reaches the backend
 *   (or is refused there) before the window ends: it is counted in its hit's window, never
 *   in a later one.
 * - Taking a refund uses up one counted hit, so a window never gets more refunds than this
 *   instance counted hits in it; a refund with nothing refundable is a no-op.
 *
 * Memory: one small entry per key counted in the last two windows; entries whose window
 * ended are dropped as they are met and by a sweep at most once per window (amortised O(1)
 * per hit, no timer).
 */
export class RefundableHits {
  private readonly entries = new Map<string, { end: number; count: number }>();
  private nextSweep = 0;

  constructor(private readonly windowMs: number) {}

  /** Keys with refundable hits (expired entries not yet swept included). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Records one hit of `key`, answered at `now`, whose window ends at `end` or later
   * (`end` = the time the call was sent + its decision's `resetMs`).
   */
  add(key: string, end: number, now: number): void {
    if (now >= this.nextSweep) this.sweep(now);
    if (end <= now) return; // its window may be over: a refund could land in the next one
    const entry = this.entries.get(key);
    if (entry !== undefined && entry.end > now) {
      entry.count++;
      if (end > entry.end) entry.end = end;
    } else {
      // No live entry: this hit opens the key's window here (a previous entry's window
      // ended, or may have: dropping its hits only ever refunds less).
      this.entries.set(key, { end, count: 1 });
    }
  }

  /**
   * Takes one refundable hit of `key` if its window is open at `now`, and returns when that
   * window ends at the earliest (the refund's deadline); `undefined` when there is none.
   */
  take(key: string, now: number): number | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.end <= now) {
      this.entries.delete(key);
      return undefined;
    }
    if (--entry.count === 0) this.entries.delete(key);
    return entry.end;
  }

  /** Forgets the hits of `key` (they were reset: nothing is left to refund). */
  delete(key: string): void {
    this.entries.delete(key);
  }

  private sweep(now: number): void {
    for (const [key, entry] of this.entries) if (entry.end <= now) this.entries.delete(key);
    this.nextSweep = now + this.windowMs;
  }
}
