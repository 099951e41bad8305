import type { Database, Statement } from 'better-sqlite3';

/** SQLITE_BUSY, SQLITE_LOCKED and their extended codes: another connection holds a lock the statement needs. */
const BUSY = /^SQLITE_(BUSY|LOCKED)/;

export const isLockError = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && BUSY.test(code);
};

/** Why a lock error ended a call (see `mapError`). Every one but `wrote` means the call changed nothing. */
export type LockEnd =
  /** The caller's deadline came before `busyTimeoutMs` was spent. */
  | { why: 'deadline'; deadline: number }
  /** `busyTimeoutMs` (`ms`) was spent. */
  | { why: 'waited'; ms: number }
  /** The call ran inside a transaction of this connection, which a wait would outlast: no wait. */
  | { why: 'in-transaction' }
  /** The call had changed rows before the lock error (committed, unless a caller's transaction rolls them back): not run again. */
  | { why: 'wrote' };

/** Pauses between tries, in ms: the first retry at once, then 1, 2, 4, 8, then every 16. */
const nextPause = (ms: number): number => (ms === 0 ? 1 : Math.min(ms * 2, 16));

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * How a store's calls wait for another connection's lock without holding the event loop.
 * better-sqlite3 runs a statement on the calling thread, and SQLite's busy handler waits for a
 * lock there, in sleeps: with it, a lock held by another process stopped every call, timer and
 * request of this one. So the store sets `busy_timeout = 0` (a statement that finds the lock
 * taken fails at once with SQLITE_BUSY) and a call that failed so, having changed nothing, runs
 * again after a pause on a timer, until it gets the lock or its time is up: the caller's
 * deadline or `busyTimeoutMs`, whichever comes first. Each try runs to its end synchronously,
 * as every call did: calls of this process never interleave inside a try.
 */
export class LockWait {
  private totalChanges: Statement | undefined;

  /**
   * `waitMs`: `busyTimeoutMs`. `ensureOpen` throws once the store is closed (checked before
   * each retry). `fail` turns an error into the call's error (`end`: why a lock error ended it).
   */
  constructor(
    private readonly db: Database,
    private readonly waitMs: number,
    private readonly ensureOpen: () => void,
    private readonly fail: (err: unknown, end?: LockEnd) => Error,
  ) {}

  /**
   * Runs `attempt` (synchronous; `retry` is false on the first try) until it returns or fails
   * otherwise than on a lock. `deadline`: the caller's, not yet passed. `atomic`: `attempt` is one
   * transaction of its own, so a lock error leaves nothing of it; otherwise a try is run again
   * only when it changed no row (`total_changes()` before and after). The first try runs now,
   * so the answer is synchronous unless the call waits.
   */
  run<T>(attempt: (retry: boolean) => T, deadline: number | undefined, atomic: boolean): T | Promise<T> {
    const inTransaction = this.db.inTransaction;
    let before = -1;
    try {
      if (!atomic) before = this.changes();
      return attempt(false);
    } catch (err) {
      const end = this.verdict(err, atomic, before, inTransaction);
      if (end !== 'retry') throw this.fail(err, end);
      return this.retry(attempt, deadline, atomic, err);
    }
  }

  private async retry<T>(attempt: (retry: boolean) => T, deadline: number | undefined, atomic: boolean, first: unknown): Promise<T> {
    const waitUntil = Date.now() + this.waitMs;
    const byCaller = deadline !== undefined && deadline < waitUntil;
    const limit = byCaller ? deadline : waitUntil;
    const timeUp = (err: unknown) =>
      this.fail(err, byCaller ? { why: 'deadline', deadline: deadline! } : { why: 'waited', ms: this.waitMs });
    let last = first;
    for (let pause = 0; ; pause = nextPause(pause)) {
      const left = limit - Date.now();
      if (left <= 0) throw timeUp(last);
      if (pause > 0) await sleep(Math.min(pause, left));
      this.ensureOpen();
      // Never a try after the caller's deadline; the store's own limit allows one last try at it.
      if (byCaller && Date.now() >= limit) throw timeUp(last);
      // A transaction of this connection, left open across an await by other code: a try now
      // would join it, and its rollback would undo a call reported done. Wait for its end.
      if (this.db.inTransaction) continue;
      let before = -1;
      try {
        if (!atomic) before = this.changes();
        return attempt(true);
      } catch (err) {
        const end = this.verdict(err, atomic, before, false);
        if (end !== 'retry') throw this.fail(err, end);
        last = err;
      }
    }
  }

  /**
   * `retry` when a try may run again; otherwise why the error ends the call (`undefined`: not a
   * lock error, or unknown whether the try changed rows). `before`: `total_changes()` before the try.
   */
  private verdict(err: unknown, atomic: boolean, before: number, inTransaction: boolean): LockEnd | 'retry' | undefined {
    if (!isLockError(err) || !this.db.open) return undefined;
    if (inTransaction) return { why: 'in-transaction' };
    // Atomic: rolled back whole. `before` -1: the count itself failed, before the try ran.
    if (atomic || before === -1) return 'retry';
    let after: number;
    try {
      after = this.changes();
    } catch {
      // Unknown whether the call changed rows (the connection is busy with an open iterator): not run again.
      return undefined;
    }
    return after === before ? 'retry' : { why: 'wrote' };
  }

  /** Rows changed by this connection since it opened (rolled back or not). */
  private changes(): number {
    this.totalChanges ??= this.db.prepare('SELECT total_changes()').pluck();
    return this.totalChanges.get() as number;
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * `fn` tried again after a lock error, in pauses of 1 ms doubling to 50 ms with the thread
 * blocked, until it returns or `timeoutMs` has passed (then its error). For work that is
 * synchronous by nature and runs once, when a store is made or the tables created: a
 * connection a store configured has `busy_timeout = 0`, and SQLite may answer SQLITE_BUSY at
 * once even with a busy timeout (where waiting could deadlock two connections).
 */
export function retryWhileLocked<T>(fn: () => T, timeoutMs: number): T {
  const deadline = Date.now() + timeoutMs;
  for (let waitMs = 1; ; waitMs = Math.min(waitMs * 2, 50)) {
    try {
      return fn();
    } catch (err) {
      const left = deadline - Date.now();
      if (!isLockError(err) || left <= 0) throw err;
      Atomics.wait(pause, 0, 0, Math.min(waitMs, left));
    }
  }
}
