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
  backgroundReporter,
  repeatInBackground,
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
  validateOptions,
} from '@stowage/core/adapter-kit';
import type { Database, Statement } from 'better-sqlite3';
import { busyTimeoutOf, quantizeDown, type BusyTimeout } from './busy-timeout.js';
import { PruneThread, PruneThreadError } from './prune-thread.js';
import { migrate, type SchemaComponent } from './schema.js';

export interface SqliteStoreOptions extends StoreOptionsBase {
  /** A better-sqlite3 `Database` (a file or `:memory:`). The store never closes it. */
  database: Database;
  /** Prefix of every table name; letters, digits and `_`. @default 'stowage_' */
  tablePrefix?: string;
  /** Create the tables on first use. Turn off to run {@link migrate} yourself. @default true */
  migrate?: boolean;
  /**
   * Set the pragmas the store relies on: `journal_mode = WAL` (readers never block the
   * writer; other processes see commits), `busy_timeout` (wait for another process's write
   * lock instead of failing with SQLITE_BUSY; set again before each call that needs another
   * value: a nearer caller's deadline, or another store's `busyTimeoutMs` on the same
   * connection) and `synchronous = NORMAL` (in WAL mode, a process crash loses nothing
   * committed; only a power loss may lose the last commits). Other pragmas are left alone;
   * with `false`, every pragma is, and a caller's deadline cannot shorten a lock wait.
   * @default true
   */
  configure?: boolean;
  /**
   * `busy_timeout` in ms: how long a call waits for another process's write lock. A caller's
   * deadline that is nearer shortens the wait (only with `configure`). @default 5000
   */
  busyTimeoutMs?: number;
  /**
   * Run `prune()` in the background this often (an unref'd timer); a tick that comes while the
   * last prune still runs is skipped. @default off
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

const BUSY = /^SQLITE_(BUSY|LOCKED)/;
const CORRUPT = /^SQLITE_(CORRUPT|NOTADB)/;
const GONE = /^SQLITE_(IOERR|CANTOPEN|FULL|READONLY)/;

/**
 * Maps a driver error to a StowageError (StowageErrors pass through). `deadline`: the caller's,
 * when it (not `busyTimeoutMs`) bounded the call's wait for the lock.
 */
export function mapError(source: ErrorSource, db: Database, err: unknown, deadline?: number): StowageError {
  if (err instanceof StowageError) return err;
  const code = (err as { code?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (!db.open) return source.error('UNAVAILABLE', 'the database connection is closed', { cause: err });
  if (typeof code === 'string') {
    if (BUSY.test(code)) {
      if (deadline === undefined)
        return source.error('TIMEOUT', `the database stayed locked by another connection (${code})`, { cause: err });
      return source.error(
        'TIMEOUT',
        `the database stayed locked by another connection until the caller's deadline (${code}); the call changed nothing`,
        {
          cause: err,
          details: { deadline },
        },
      );
    }
    if (CORRUPT.test(code)) return source.error('CORRUPT', `the database file is damaged (${code})`, { cause: err });
    if (GONE.test(code)) return source.error('UNAVAILABLE', `the database cannot be written (${code})`, { cause: err });
  }
  return source.error('INTERNAL', `unexpected database error: ${message}`, { cause: err });
}

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
  /** The connection's busy timeout, when the store configures it (`configure`). */
  private readonly busy: BusyTimeout | undefined;
  private statements: S | undefined;
  private pruners: Statement[] | undefined;
  private pruner: NodeJS.Timeout | undefined;
  /** Where `prune()` runs with `pruneInWorker`. */
  private readonly pruneThread: PruneThread | undefined;
  private closed = false;
  private readonly telemetry: StoreTelemetry;

  protected abstract readonly component: SchemaComponent;
  /** Prepares the store's statements; runs once, after migration. */
  protected abstract prepare(): S;
  /** `DELETE ... LIMIT ?` statements (one bound parameter per `?`: now, then the batch size). */
  protected abstract pruneStatements(): string[];

  constructor(storeName: string, options: SqliteStoreOptions) {
    this.source = new ErrorSource(PACKAGE, storeName);
    const o = validateOptions<SqliteStoreOptions>(this.source, 'options', options);
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
    if (o.configure !== false) {
      this.busy = busyTimeoutOf(db);
      this.busy.reset(busy);
      enableWal(db, busy);
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
      const every = validateInteger(this.source, 'options.pruneIntervalMs', o.pruneIntervalMs, 1);
      this.pruner = repeatInBackground(() => this.prune(), every, report, 'prune');
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
   * store (`UNAVAILABLE` once closed), and whether the deadline has passed (see {@link bound}).
   */
  protected op<T>(fn: (s: S, now: number) => T, opts?: CallOptions): T {
    const given = opts === undefined ? undefined : deadlineOf(this.source, opts);
    this.ensureOpen();
    let deadline: number | undefined;
    try {
      deadline = this.bound(given);
      return fn(this.statements ?? this.ready(), this.now());
    } catch (err) {
      throw mapError(this.source, this.db, err, deadline);
    }
  }

  /**
   * Applies the caller's deadline (validated) to the call about to run: `TIMEOUT` if passed
   * (nothing runs). Once started the call runs to its end synchronously; what can outlast the
   * deadline is the wait for another connection's write lock, so the connection's busy timeout
   * is set to the time left when that is less than `busyTimeoutMs` (rounded down, see
   * {@link quantizeDown}), else back to `busyTimeoutMs`. Returns the deadline when it bounds
   * the wait.
   */
  private bound(deadline: number | undefined): number | undefined {
    if (deadline !== undefined) {
      const now = Date.now();
      checkDeadline(this.source, deadline, now);
      const left = deadline - now;
      if (left < this.busyMs && this.busy !== undefined) {
        this.busy.set(quantizeDown(left));
        return deadline;
      }
    }
    this.busy?.set(this.busyMs);
    return undefined;
  }

  private ready(): S {
    if (this.autoMigrate) migrate(this.db, { tablePrefix: this.prefix, components: [this.component] });
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
      const [changes, count] = this.op((_, now) => {
        at ??= now;
        this.pruners ??= this.pruneStatements().map((sql) => this.db.prepare(sql));
        return [this.pruners[i]!.run(at, this.pruneBatch).changes, this.pruners.length] as const;
      });
      total += changes;
      if (changes < this.pruneBatch && ++i === count) return total;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** {@link prune} in the worker: the tables are made (migration) and the time read here, the batches run there. */
  private async pruneInThread(thread: PruneThread): Promise<number> {
    const at = this.op((_, now) => now);
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
   * connection or process holds that lock past the wait (the busy timeout, at most
   * `timeoutMs`: the wait blocks this thread, as a write's does), or on a connection opened
   * read-only or with `query_only` set. Inside a transaction of this connection the lock is
   * ours already: nothing to probe.
   */
  health(opts?: HealthOptions): Promise<HealthResult> {
    return storeHealth(this.closed, opts, (timeoutMs) =>
      measureHealth(async () => {
        try {
          this.op(() => this.writeProbe(), { deadline: Date.now() + timeoutMs });
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

  async close(): Promise<void> {
    // Once: the prune worker counts the stores using it.
    if (!this.closed) this.pruneThread?.release();
    this.closed = true;
    clearInterval(this.pruner);
    this.pruner = undefined;
    this.onClose();
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

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * `journal_mode = WAL` on a file still in rollback mode needs it to itself for a moment. When
 * two processes open a new file at once, SQLite can answer SQLITE_BUSY at once rather than
 * wait (it does not wait where waiting could deadlock two connections): a CI run saw two
 * server processes starting on one new file, one died with "database is locked". So the
 * switch is retried, with short pauses, within the busy timeout.
 */
function enableWal(db: Database, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  for (let waitMs = 1; ; waitMs = Math.min(waitMs * 2, 50)) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      const busy = String((err as { code?: unknown }).code).startsWith('SQLITE_BUSY');
      if (!busy || Date.now() >= deadline) throw err;
      Atomics.wait(pause, 0, 0, waitMs);
    }
  }
}
