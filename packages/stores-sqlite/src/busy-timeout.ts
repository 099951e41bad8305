import type { Database, Statement } from 'better-sqlite3';

/**
 * The busy timeout of one connection (how long a statement waits for another connection's
 * write lock before SQLITE_BUSY), as the stores on it set it: before each call, the wait that
 * call may spend, which is its store's `busyTimeoutMs`, or less when the caller's deadline is
 * nearer. The pragma runs only when the value changes, through one prepared statement per
 * value (a pragma's value cannot be a bound parameter).
 */
export class BusyTimeout {
  private current = -1;
  private readonly statements = new Map<number, Statement>();

  constructor(private readonly db: Database) {}

  /** Sets `ms` whatever the connection is believed to hold (a store configuring it). */
  reset(ms: number): void {
    this.current = -1;
    this.set(ms);
  }

  set(ms: number): void {
    if (ms === this.current) return;
    let statement = this.statements.get(ms);
    if (statement === undefined) this.statements.set(ms, (statement = this.db.prepare(`PRAGMA busy_timeout = ${ms}`)));
    statement.run();
    this.current = ms;
  }
}

const connections = new WeakMap<Database, BusyTimeout>();

/** The one {@link BusyTimeout} of `db`, shared by every store on that connection. */
export function busyTimeoutOf(db: Database): BusyTimeout {
  let busy = connections.get(db);
  if (busy === undefined) connections.set(db, (busy = new BusyTimeout(db)));
  return busy;
}

/**
 * The busy timeout for a call with `ms` left before its caller's deadline: `ms` rounded down
 * to its 4 leading bits (at most an eighth less, never more), so calls with about the same
 * time left share one value and the pragma rarely changes. Values: 1 to 15 exactly, then 8
 * per doubling (16, 18, ... 30, 32, 36, ... 960, 1024, 1152, ...).
 */
export function quantizeDown(ms: number): number {
  if (ms < 16) return ms;
  const step = 2 ** (Math.floor(Math.log2(ms)) - 3);
  return Math.floor(ms / step) * step;
}
