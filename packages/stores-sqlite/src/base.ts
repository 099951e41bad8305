import {
  StowageError,
  type BackgroundErrorHandler,
  type CallOptions,
  type HealthOptions,
  type HealthResult,
  type Healthy,
  type StoreOptionsBase,
} from '@stowage/core';
import {
  type StoreCall,
  backgroundReporter,
  repeatInBackground,
  type BackgroundTask,
  checkDeadline,
  deadlineOf,
  ErrorSource,
  instrumentStore,
  measureHealth,
  readClock,
  storeHealth,
  type StoreContract,
  type StoreTelemetry,
  validateBoolean,
  validateClock,
  validateIdentifier,
  validateInteger,
  validateTimerMs,
  validateOptionNames,
  validateOptions,
} from '@stowage/core/adapter-kit';
import type { Database, Statement } from 'better-sqlite3';
import { mapError } from './errors.js';
import { LockWait, retryWhileLocked } from './lock-wait.js';
import { PruneThread, PruneThreadError } from './prune-thread.js';
import { migrateOnce, type SchemaComponent } from './schema.js';

export interface SqliteStoreOptions extends StoreOptionsBase {
  /** A better-sqlite3 `Database` (a file or `:memory:`). The store never closes it. */
  database: Database;
  /** Prefix of every table name; letters, digits and `_`. @default 'stowage_' */
  tablePrefix?: string;
  /** Create the tables on first use. Turn off to run `migrate` yourself. @default true */
  migrate?: boolean;
  /**
   * Set the pragmas the store relies on: `journal_mode = WAL` (readers never block the
   * writer; other processes see commits), `busy_timeout = 0` (a statement that finds another
   * connection's lock fails at once instead of waiting with the thread blocked: the store waits
   * for the lock itself, on timers, see `busyTimeoutMs`) and `synchronous = NORMAL` (in WAL
   * mode, a process crash loses nothing committed; only a power loss may lose the last
   * commits). Other pragmas are left alone; with `false`, every pragma is, and the
   * connection's own `busy_timeout` (better-sqlite3's `timeout` option, 5 s by default) waits
   * with the thread blocked before the store's wait begins.
   * @default true
   */
  configure?: boolean;
  /**
   * How long a call waits for a lock held by another connection or process (in all, over its
   * tries; the caller's deadline, when nearer, ends the wait first). The wait leaves the event
   * loop free: the call runs again after short pauses on a timer. Past it, `TIMEOUT`, and the
   * call changed nothing. `0`: no wait. @default 5000
   */
  busyTimeoutMs?: number;
  /**
   * Run `prune()` in the background this often (an unref'd timer); a tick that comes while the
   * last prune still runs is skipped. At most `MAX_TIMER_MS` (2^31 - 1). @default off
   */
  pruneIntervalMs?: number;
  /** Rows deleted per statement by `prune()`. @default 1000 */
  pruneBatchSize?: number;
  /**
   * Run `prune()` in a worker thread with its own connection to the database file, so that its
   * batches never hold the event loop: other calls' reads never wait for it (WAL), and a write
   * waits only for the batch in progress, as for another process (within `busyTimeoutMs`), and
   * the WAL checkpoint its deletes bring runs there too. On the event loop (the default), each
   * batch holds every call of the process for its duration, and now and then for a checkpoint
   * (measured in the bench README). Needs a database file (not `:memory:`) in WAL mode; one
   * worker per `Database`, shared by its stores, unref'd, stopped when the last of them closes.
   * @default false
   */
  pruneInWorker?: boolean;
  /**
   * Receives each failure of the background prune (operation `prune`); see {@link BackgroundErrorHandler}.
   * @default one `console.error` line with the store, the operation, the error's code and message
   */
  onError?: BackgroundErrorHandler;
}

export const PACKAGE = '@stowage/stores-sqlite';

/**
 * The first row of a write statement with RETURNING, stepping it to completion. `.get()`
 * would stop after the first row and reset the statement: the write still commits, but
 * SQLite then skips its WAL auto-checkpoint, and the WAL file grows without bound.
 */
export function writeReturning<T>(statement: Statement, params: unknown): T | undefined {
  return (statement.all(params) as T[])[0];
}

/** Binds bytes without a copy: better-sqlite3 binds Buffers. */
export const asBuffer = (u8: Uint8Array): Buffer => (Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength));

/**
 * Each option of {@link SqliteStoreOptions}, once: the store refuses a name outside them and the options of
 * its own kind (a subclass's `ownOptions`).
 */
const OPTION_NAMES: Readonly<Record<keyof SqliteStoreOptions, true>> = {
  clock: true,
  telemetry: true,
  database: true,
  tablePrefix: true,
  migrate: true,
  configure: true,
  busyTimeoutMs: true,
  pruneIntervalMs: true,
  pruneBatchSize: true,
  pruneInWorker: true,
  onError: true,
};

/**
 * What every SQLite store shares: options, pragmas, lazy migration and statement
 * preparation (once per store), error mapping, the prune timer, `health()` and `close()`.
 */
export abstract class SqliteStoreBase<S> implements Healthy {
  protected readonly source: ErrorSource;
  protected readonly db: Database;
  protected readonly prefix: string;
  private readonly clock: (() => number) | undefined;
  private readonly autoMigrate: boolean;
  private readonly pruneBatch: number;
  private readonly busyMs: number;
  /** Waits for other connections' locks, off the event loop. */
  private readonly lockWait: LockWait;
  private statements: S | undefined;
  private pruners: Statement[] | undefined;
  private pruner: BackgroundTask | undefined;
  /** Where `prune()` runs with `pruneInWorker`. */
  private readonly pruneThread: PruneThread | undefined;
  private closed = false;
  private readonly telemetry: StoreTelemetry;

  protected abstract readonly component: SchemaComponent;
  /** Prepares the store's statements; runs once, after migration. */
  protected abstract prepare(): S;
  /** `DELETE ... LIMIT ?` statements (one bound parameter per `?`: now, then the batch size). */
  protected abstract pruneStatements(): string[];

  constructor(storeName: string, options: SqliteStoreOptions, ownOptions: Readonly<Record<string, boolean>> = {}) {
    this.source = new ErrorSource(PACKAGE, storeName);
    const o = validateOptions<SqliteStoreOptions>(this.source, 'options', options);
    validateOptionNames(this.source, 'options', o, { ...OPTION_NAMES, ...ownOptions });
    const db = o.database;
    if (db === null || typeof db !== 'object' || typeof (db as Database).prepare !== 'function') {
      throw this.source.invalid('options.database must be a better-sqlite3 Database');
    }
    this.db = db;
    this.prefix = validateIdentifier(this.source, 'options.tablePrefix', o.tablePrefix ?? 'stowage_');
    const telemetry = validateBoolean(this.source, 'options.telemetry', o.telemetry, true);
    this.telemetry = { system: 'sqlite', namespace: this.prefix, enabled: telemetry };
    this.clock = validateClock(this.source, o.clock);
    this.autoMigrate = o.migrate !== false;
    this.pruneBatch = o.pruneBatchSize === undefined ? 1000 : validateInteger(this.source, 'options.pruneBatchSize', o.pruneBatchSize, 1);
    const busy = o.busyTimeoutMs === undefined ? 5000 : validateInteger(this.source, 'options.busyTimeoutMs', o.busyTimeoutMs, 0);
    this.busyMs = busy;
    this.lockWait = new LockWait(
      db,
      busy,
      () => this.ensureOpen(),
      (err, end) => mapError(this.source, this.db, err, end),
    );
    if (o.configure !== false) {
      // The store waits for locks itself (see LockWait); the driver's wait would block the thread.
      db.pragma('busy_timeout = 0');
      try {
        enableWal(db, busy);
      } catch (err) {
        // A lock held past busyTimeoutMs while switching to WAL: a TIMEOUT naming the store.
        throw mapError(this.source, db, err);
      }
      db.pragma('synchronous = NORMAL');
    }
    if (validateBoolean(this.source, 'options.pruneInWorker', o.pruneInWorker, false)) {
      const field = { field: 'options.pruneInWorker' };
      if (db.memory || db.name === '')
        throw this.source.invalid('options.pruneInWorker needs a database file, not an in-memory database', field);
      // In another journal mode each batch of the worker would lock this connection's readers out.
      const mode = db.pragma('journal_mode', { simple: true });
      if (mode !== 'wal')
        throw this.source.invalid(`options.pruneInWorker needs journal_mode = WAL, the database is in ${String(mode)}`, field);
      this.pruneThread = PruneThread.acquire(db, o.configure !== false);
    }
    const report = backgroundReporter(this.source, 'options.onError', o.onError);
    if (o.pruneIntervalMs !== undefined) {
      const every = validateTimerMs(this.source, 'options.pruneIntervalMs', o.pruneIntervalMs);
      // A prune that close() cut short (in a lock wait, the next try finds the store closed) ends quietly.
      const pruneUnlessClosed = () =>
        this.prune().catch((err: unknown) => {
          if (this.closed && err instanceof StowageError && err.code === 'UNAVAILABLE') return 0;
          throw err;
        });
      this.pruner = repeatInBackground(pruneUnlessClosed, every, report, 'prune');
    }
  }

  /** Instruments the store's operations (see `instrumentStore`); the last step of each store's constructor. */
  protected instrument(contract: StoreContract): void {
    instrumentStore(this, contract, this.telemetry);
  }

  /** The store's time (integer epoch ms). */
  protected now(): number {
    return this.clock === undefined ? Date.now() : readClock(this.source, this.clock);
  }

  /** `UNAVAILABLE` once the store is closed. */
  protected ensureOpen(): void {
    if (this.closed) throw this.source.error('UNAVAILABLE', 'the store is closed');
  }

  /**
   * Runs one synchronous operation with prepared statements; driver errors become
   * StowageErrors. Call it once the other arguments are valid: it then checks, in the order of
   * every contract, the caller's deadline in `opts` (`INVALID_ARGUMENT` if malformed), the
   * store (`UNAVAILABLE` once closed), and whether the deadline has passed (`TIMEOUT`, nothing
   * runs). The operation runs at once, to its end (the answer is synchronous, unless it waits);
   * one that finds another connection's lock and changed nothing runs again, after pauses on
   * timers, until the caller's deadline or `busyTimeoutMs` (see {@link LockWait}): `retry` is
   * true then. `call`: the method's entry of `STORE_CALLS` (any other option is refused).
   * `atomic`: `fn` is one transaction of its own (a lock error leaves nothing of it).
   */
  protected op<T>(fn: (s: S, now: number, retry: boolean) => T, opts?: CallOptions, call?: StoreCall, atomic = false): T | Promise<T> {
    const deadline = opts === undefined ? undefined : deadlineOf(this.source, opts, call);
    this.ensureOpen();
    checkDeadline(this.source, deadline);
    return this.lockWait.run((retry) => fn(this.statements ?? this.ready(), this.now(), retry), deadline, atomic);
  }

  /** {@link op} tried once, now, with no deadline: for the store's own timers, which try again on their next tick. */
  protected once<T>(fn: (s: S, now: number) => T): T {
    this.ensureOpen();
    try {
      return fn(this.statements ?? this.ready(), this.now());
    } catch (err) {
      throw mapError(this.source, this.db, err);
    }
  }

  private ready(): S {
    // One try: a lock error is waited for as any call's (see LockWait), off the event loop.
    if (this.autoMigrate) migrateOnce(this.db, { tablePrefix: this.prefix, components: [this.component] });
    this.statements = this.prepare();
    return this.statements;
  }

  /**
   * Deletes expired rows in batches of `pruneBatchSize`; returns how many went. Each batch
   * runs synchronously, and the event loop gets a turn between batches, so other calls of the
   * process wait for one batch at most, not for the whole prune.
   */
  async prune(): Promise<number> {
    if (this.pruneThread !== undefined) return this.pruneInThread(this.pruneThread);
    // One clock reading for the whole prune, so each pass deletes rows that expired by then,
    // and a short pass ends its statement.
    let at: number | undefined;
    let total = 0;
    for (let i = 0; ; ) {
      const [changes, count] = await this.op((_, now) => {
        at ??= now;
        this.pruners ??= this.pruneStatements().map((sql) => this.db.prepare(sql));
        return [this.pruners[i]!.run(at, this.pruneBatch).changes, this.pruners.length] as const;
      });
      total += changes;
      // Closing ends a prune between batches: close() awaits the one in flight.
      if ((changes < this.pruneBatch && ++i === count) || this.closed) return total;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** {@link prune} in the worker: the tables are made (migration) and the time read here, the batches run there. */
  private async pruneInThread(thread: PruneThread): Promise<number> {
    const at = this.once((_, now) => now);
    if (!this.db.open) throw this.source.error('UNAVAILABLE', 'the database connection is closed');
    try {
      return await thread.run({ statements: this.pruneStatements(), at, batch: this.pruneBatch, busyTimeoutMs: this.busyMs });
    } catch (err) {
      if (this.closed) throw this.source.error('UNAVAILABLE', 'the store is closed', { cause: err });
      if (err instanceof PruneThreadError && err.code === undefined) throw this.source.error('UNAVAILABLE', err.message, { cause: err });
      throw mapError(this.source, this.db, err);
    }
  }

  /**
   * See `Healthy`: whether the database would take a write now, writing nothing: `BEGIN
   * IMMEDIATE` then `ROLLBACK` (after the first migration, which a store runs on first use).
   * It takes the write lock a write takes, so it fails where a write would: while another
   * connection or process holds that lock past the wait (as a write waits, off the event loop,
   * for at most `timeoutMs` and `busyTimeoutMs`), or on a connection opened read-only or with
   * `query_only` set. Inside a transaction of this connection the lock is
   * ours already: nothing to probe.
   */
  health(opts?: HealthOptions): Promise<HealthResult> {
    return storeHealth(this.closed, opts, (timeoutMs) =>
      measureHealth(async () => {
        try {
          // A tenth sooner than the probe's own limit, so that the driver's reason, not that limit, answers.
          await this.op(() => this.writeProbe(), { deadline: Date.now() + Math.max(1, timeoutMs - Math.ceil(timeoutMs / 10)) });
        } catch (err) {
          // The driver's reason, as the other probes give it (the log line names the store).
          throw err instanceof StowageError && err.cause instanceof Error ? err.cause : err;
        }
      }, timeoutMs),
    );
  }

  private writeProbe(): void {
    if (this.db.readonly) throw new Error('the database connection is read-only');
    if (this.db.pragma('query_only', { simple: true }) === 1) throw new Error('the database connection is query_only');
    if (this.db.inTransaction) return;
    this.db.exec('BEGIN IMMEDIATE');
    this.db.exec('ROLLBACK');
  }

  /** Refuses calls from now on, and resolves once the background prune in flight, if any, has ended. */
  async close(): Promise<void> {
    const first = !this.closed;
    this.closed = true;
    const pruner = this.pruner;
    this.pruner = undefined;
    this.onClose();
    await pruner?.stop();
    // Once, and after the prune it may run: the prune worker counts the stores using it.
    if (first) this.pruneThread?.release();
  }

  protected onClose(): void {}
}

/**
 * Whether a better-sqlite3 database answers: `SELECT 1`; `{ ok, latencyMs, error? }`, never throws.
 * It passes another writer's lock: a store's `health()` checks writes.
 */
export function sqliteHealth(database: Database, timeoutMs = 2000): Promise<HealthResult> {
  return measureHealth(async () => {
    database.prepare('SELECT 1').get();
  }, timeoutMs);
}

/**
 * `journal_mode = WAL` on a file still in rollback mode needs it to itself for a moment. When
 * two processes open a new file at once, SQLite can answer SQLITE_BUSY at once rather than
 * wait (it does not wait where waiting could deadlock two connections): a CI run saw two
 * server processes starting on one new file, one died with "database is locked". So the
 * switch is retried, with short pauses (the thread blocked: a store is made synchronously),
 * within `busyTimeoutMs`.
 */
function enableWal(db: Database, timeoutMs: number): void {
  retryWhileLocked(() => db.pragma('journal_mode = WAL'), timeoutMs);
}
