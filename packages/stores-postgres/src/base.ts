import { createHash } from 'node:crypto';
import type { BackgroundErrorHandler, HealthOptions, HealthResult, Healthy, StoreOptionsBase } from '@stowage/core';
import {
  backgroundReporter,
  repeatInBackground,
  type BackgroundTask,
  budgetTimeout,
  callBudget,
  ErrorSource,
  instrumentStore,
  measureHealth,
  readClock,
  storeHealth,
  type StoreContract,
  type StoreTelemetry,
  settleWithin,
  validateBoolean,
  validateClock,
  validateIdentifier,
  validateInteger,
  validateTimerMs,
  validateOptionNames,
  validateOptions,
  type CallBudget,
  ClockSampleTimeout,
  type ServerClock,
} from '@stowage/core/adapter-kit';
import pg from 'pg';
import { COMPONENT_TABLES, deadlineFunctionName, migrate, tables, type SchemaComponent, type Tables } from './schema.js';
import { lateAt, mapError } from './errors.js';
import { serverClockOf } from './server-clock.js';

export interface PostgresStoreOptions extends StoreOptionsBase {
  /** A pg `Pool`. The store never ends it. Give it an `error` listener (pg requires one). */
  pool: pg.Pool;
  /** Schema of the tables (created if missing). @default 'public' */
  schema?: string;
  /** Prefix of every table name; `[A-Za-z0-9_]`. @default 'stowage_' */
  tablePrefix?: string;
  /**
   * Make this store's tables UNLOGGED: much faster writes, emptied after a PostgreSQL crash
   * and not replicated. Fine for rate limits and locks. @default false
   */
  unlogged?: boolean;
  /** Create or upgrade the tables on first use (see `migrate`). @default true */
  migrate?: boolean;
  /**
   * No call waits longer than this for an answer (nor past the caller's `opts.deadline`, when
   * earlier): past it, `TIMEOUT`. A writing statement still running on the server then, or
   * reaching it later, is refused there and changes nothing; the deadline sent is corrected
   * by a sample of PostgreSQL's clock taken before the pool's first writing call and refreshed
   * once a minute after. Also the pg query read timeout. At most `MAX_TIMER_MS` (2^31 - 1,
   * the longest delay a Node timer takes).
   * @default 5000
   */
  statementTimeoutMs?: number;
  /**
   * Prune in the background this often; only one replica prunes at a time (advisory lock), and
   * a tick that comes while this store's last prune still runs is skipped. At most
   * `MAX_TIMER_MS`. @default off
   */
  pruneIntervalMs?: number;
  /** Rows deleted per statement by `prune()`. @default 1000 */
  pruneBatchSize?: number;
  /**
   * Receives each failure of the background prune (operation `prune`); see {@link BackgroundErrorHandler}.
   * @default one `console.error` line with the store, the operation, the error's code and message
   */
  onError?: BackgroundErrorHandler;
}

export const PACKAGE = '@stowage/stores-postgres';

export { lateAt, mapError } from './errors.js';

/** bigint columns come back as JS numbers: every value this package stores is below 2^53. */
const int8 = (value: string): number => Number(value);
const TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20 ? int8 : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/**
 * Each option of {@link PostgresStoreOptions}, once: the store refuses a name outside them and the options of
 * its own kind (a subclass's `ownOptions`).
 */
const OPTION_NAMES: Readonly<Record<keyof PostgresStoreOptions, true>> = {
  clock: true,
  telemetry: true,
  pool: true,
  schema: true,
  tablePrefix: true,
  unlogged: true,
  migrate: true,
  statementTimeoutMs: true,
  pruneIntervalMs: true,
  pruneBatchSize: true,
  onError: true,
};

/** A statement prepared by name on each connection that runs it. */
export class Sql {
  readonly name: string;
  /**
   * @param checked The statement writes and takes the call's deadline on the server's clock
   *   as its last parameter, for `<prefix>check_deadline` (see `schema.ts`) on every row it
   *   RETURNs; `run` appends it.
   */
  constructor(
    readonly text: string,
    readonly checked = false,
  ) {
    this.name = `stowage_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
  }
}

const rowsOf = (result: pg.QueryResult): unknown[] => result.rows;

/** Retried inside the store: a serialization failure or deadlock changed nothing. */
export const isRetryable = (err: unknown): boolean => {
  const code = (err as { code?: unknown })?.code;
  return code === '40001' || code === '40P01';
};

/**
 * What every PostgreSQL store shares: options, named prepared statements within each call's
 * budget (the caller's deadline or the store's limit, refused on the server once passed),
 * error mapping, lazy migration (retried after a failure), the prune timer and `close()`.
 */
export abstract class PgStoreBase implements Healthy {
  protected readonly source: ErrorSource;
  protected readonly pool: pg.Pool;
  protected readonly t: Tables;
  protected readonly timeoutMs: number;
  protected readonly pruneBatch: number;
  private readonly clock: (() => number) | undefined;
  private readonly autoMigrate: boolean;
  private readonly unlogged: boolean;
  private migrated: Promise<void> | undefined;
  private isReady = false;
  private pruner: BackgroundTask | undefined;
  protected closed = false;
  private readonly telemetry: StoreTelemetry;
  /**
   * A lower bound of how far PostgreSQL's clock runs ahead of ours, added to every deadline
   * sent; shared by the stores of this pool.
   */
  private readonly backendClock: ServerClock;
  /** `"schema"."prefix_check_deadline"`, which every writing statement calls (see `schema.ts`). */
  protected readonly deadlineFunction: string;

  protected abstract readonly component: SchemaComponent;

  constructor(storeName: string, options: PostgresStoreOptions, ownOptions: Readonly<Record<string, boolean>> = {}) {
    this.source = new ErrorSource(PACKAGE, storeName);
    const o = validateOptions<PostgresStoreOptions>(this.source, 'options', options);
    validateOptionNames(this.source, 'options', o, { ...OPTION_NAMES, ...ownOptions });
    if (o.pool === null || typeof o.pool !== 'object' || typeof (o.pool as pg.Pool).query !== 'function') {
      throw this.source.invalid('options.pool must be a pg Pool');
    }
    this.pool = o.pool;
    this.t = tables(
      validateIdentifier(this.source, 'options.schema', o.schema ?? 'public', 63),
      validateIdentifier(this.source, 'options.tablePrefix', o.tablePrefix ?? 'stowage_', 40),
    );
    this.deadlineFunction = deadlineFunctionName(this.t);
    const telemetry = validateBoolean(this.source, 'options.telemetry', o.telemetry, true);
    this.telemetry = { system: 'postgresql', namespace: `${this.t.schema}.${this.t.prefix}`, enabled: telemetry };
    this.backendClock = serverClockOf(this.pool);
    this.clock = validateClock(this.source, o.clock);
    this.autoMigrate = o.migrate !== false;
    this.unlogged = o.unlogged === true;
    this.timeoutMs =
      o.statementTimeoutMs === undefined ? 5000 : validateTimerMs(this.source, 'options.statementTimeoutMs', o.statementTimeoutMs);
    this.pruneBatch = o.pruneBatchSize === undefined ? 1000 : validateInteger(this.source, 'options.pruneBatchSize', o.pruneBatchSize, 1);
    const report = backgroundReporter(this.source, 'options.onError', o.onError);
    if (o.pruneIntervalMs !== undefined) {
      const every = validateTimerMs(this.source, 'options.pruneIntervalMs', o.pruneIntervalMs);
      this.pruner = repeatInBackground(() => this.pruneOnce(false), every, report, 'prune');
    }
  }

  /** Instruments the store's operations (see `instrumentStore`); the last step of each store's constructor. */
  protected instrument(contract: StoreContract): void {
    instrumentStore(this, contract, this.telemetry);
  }

  /** The time to pass as the `now` parameter: the custom clock, or NULL for the server's clock. */
  protected nowParam(): number | null {
    return this.clock === undefined ? null : readClock(this.source, this.clock);
  }

  protected get usesServerClock(): boolean {
    return this.clock === undefined;
  }

  protected ensureOpen(): void {
    if (this.closed) throw this.source.error('UNAVAILABLE', 'the store is closed');
  }

  private ready(): Promise<void> {
    this.migrated ??= migrate(this.pool, {
      schema: this.t.schema,
      tablePrefix: this.t.prefix,
      components: [this.component],
      unlogged: this.unlogged,
    }).then(
      () => void (this.isReady = true),
      (err: unknown) => {
        this.migrated = undefined; // retry when the database is back
        throw err;
      },
    );
    return this.migrated;
  }

  /**
   * The budget of one call (its arguments validated first): `UNAVAILABLE` once closed,
   * `TIMEOUT` with nothing sent when `deadline` has passed.
   */
  protected budget(deadline: number | undefined): CallBudget {
    this.ensureOpen();
    return callBudget(this.source, this.timeoutMs, deadline);
  }

  /** The epoch ms on the server's clock that a call with `budget` must finish by. */
  protected serverDeadline(budget: CallBudget): number {
    return this.backendClock.toServer(budget);
  }

  /**
   * Runs `work` until the budget's end: past it, `TIMEOUT` (one timer; the time spent waiting
   * for a pool connection, the first migration or the first clock sample counts). With
   * `sendsDeadline`, the pool's first such call waits for the clock sample (see
   * `server-clock.ts`). Errors mapped.
   */
  protected timed<T>(budget: CallBudget, work: () => Promise<T>, sendsDeadline = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closed) {
        reject(this.source.error('UNAVAILABLE', 'the store is closed'));
        return;
      }
      const now = Date.now();
      const ms = budget.deadline - now;
      if (ms <= 0) {
        reject(budgetTimeout(this.source, 'PostgreSQL', budget));
        return;
      }
      let pending: Promise<T>;
      try {
        // Once sampled, this comparison is all the clock costs a call.
        const first = sendsDeadline && this.backendClock.isDue() ? this.backendClock.due(this.timeoutMs) : undefined;
        if (first !== undefined) pending = this.afterSample(first, budget, work);
        else pending = this.isReady || !this.autoMigrate ? work() : this.ready().then(work);
      } catch (err) {
        pending = Promise.reject(err);
      }
      settleWithin(pending, ms, () => budgetTimeout(this.source, 'PostgreSQL', budget)).then(resolve, (err: unknown) =>
        reject(mapError(this.source, err)),
      );
    });
  }

  /**
   * `work` once the pool's first clock sample is in (and the first migration, run alongside
   * it): nothing is sent if the budget ran out meanwhile; a sample that got no answer in time
   * is `TIMEOUT`, a failed one fails the call as a failed statement would.
   */
  private afterSample<T>(first: Promise<void>, budget: CallBudget, work: () => Promise<T>): Promise<T> {
    const sampled = first.catch((err: unknown) => {
      throw err instanceof ClockSampleTimeout ? budgetTimeout(this.source, 'PostgreSQL', budget) : err;
    });
    const migrated = this.isReady || !this.autoMigrate ? undefined : this.ready();
    return Promise.all([sampled, migrated]).then(() =>
      Date.now() >= budget.deadline ? Promise.reject(budgetTimeout(this.source, 'PostgreSQL', budget)) : work(),
    );
  }

  /**
   * Runs one prepared statement (one round trip once it is prepared on the connection), with
   * pg's read timeout at what is left of the budget. A `checked` statement gets the deadline on
   * the server's clock as its last parameter (appended to `values`, a fresh array). When the
   * server refuses it as late while our budget still runs, its clock is ahead of ours: the
   * offset is learnt and the statement sent once more.
   */
  protected run<R = Record<string, unknown>>(sql: Sql, values: unknown[], budget: CallBudget, client?: pg.PoolClient): Promise<R[]> {
    if (!sql.checked) return this.send<R>(sql, values, budget, client);
    values.push(this.serverDeadline(budget));
    const sent = this.send<R>(sql, values, budget, client);
    // In a transaction the refusal has aborted it: the caller decides (see the stream store).
    return client === undefined ? sent.catch((err: unknown) => this.retryLate<R>(err, sql, values, budget)) : sent;
  }

  /** After a refusal as late while our budget still runs: learn the clock offset and send once more. */
  private retryLate<R>(err: unknown, sql: Sql, values: unknown[], budget: CallBudget): Promise<R[]> {
    const serverNow = lateAt(err);
    if (serverNow === undefined || !this.learnClock(serverNow, budget)) throw err;
    values[values.length - 1] = this.serverDeadline(budget);
    return this.send<R>(sql, values, budget, undefined);
  }

  /**
   * After a `STOWAGE_LATE <serverNow>` refusal: if our budget has not passed, PostgreSQL's
   * clock is ahead of ours; learn by how much and return true (retry once).
   */
  protected learnClock(serverNow: number, budget: CallBudget): boolean {
    const now = Date.now();
    if (now >= budget.deadline) return false;
    this.backendClock.learn(serverNow);
    return true;
  }

  private send<R>(sql: Sql, values: unknown[], budget: CallBudget, client: pg.PoolClient | undefined): Promise<R[]> {
    const ms = budget.deadline - Date.now();
    if (ms <= 0) return Promise.reject(budgetTimeout(this.source, 'PostgreSQL', budget));
    const config = { name: sql.name, text: sql.text, values, types: TYPES, query_timeout: ms } as pg.QueryConfig;
    return (client ? client.query(config) : this.pool.query(config)).then(rowsOf) as Promise<R[]>;
  }

  /** `run` within the budget's timer, with errors mapped. */
  protected query<R = Record<string, unknown>>(sql: Sql, values: unknown[], budget: CallBudget): Promise<R[]> {
    return this.timed(budget, () => this.run<R>(sql, values, budget), sql.checked);
  }

  /** `<prefix>check_deadline($n)`: the call of the check in a statement whose n-th parameter is the deadline. */
  protected inTime(n: number): string {
    return `${this.deadlineFunction}($${n}::bigint)`;
  }

  /** The batch statements of `prune()`, taking (now, batch size, advisory lock key, blocking): see `prune.ts`. */
  protected abstract pruneSql(): Sql[];

  private async pruneOnce(blocking: boolean): Promise<number> {
    let total = 0;
    for (const sql of this.pruneSql()) {
      // Bounded by what has expired: each pass deletes up to a batch, and a short pass is the last.
      for (;;) {
        // Prune takes no deadline: it only deletes what is already invisible.
        const budget = this.budget(undefined);
        const rows = await this.query<{ n: number }>(
          sql,
          [this.nowParam(), this.pruneBatch, `stowage:prune:${sql.name}`, blocking],
          budget,
        );
        const n = Number(rows[0]?.n ?? 0);
        total += n;
        // Closing ends a prune between batches: close() awaits the one in flight.
        if (n < this.pruneBatch || this.closed) break;
      }
      if (this.closed) break;
    }
    return total;
  }

  /** Deletes expired rows in batches; returns how many went. */
  async prune(): Promise<number> {
    return this.pruneOnce(true);
  }

  /**
   * See `Healthy`: whether the store's tables would take a write now, by one round trip that
   * writes nothing: `DELETE ... WHERE false` on each of them (after the first migration, which
   * a store runs on first use). It takes the lock an insert or update takes, so it fails where
   * they would: in a read-only transaction mode (a hot standby, `default_transaction_read_only`)
   * at once, and behind a lock that blocks writers (`LOCK TABLE`, a non-concurrent index build)
   * once `timeoutMs` passes, when PostgreSQL gives up its wait too (`lock_timeout`,
   * `statement_timeout`). No row is touched: nothing to vacuum, nothing in the WAL.
   */
  health(opts?: HealthOptions): Promise<HealthResult> {
    return storeHealth(this.closed, opts, (timeoutMs) => measureHealth(() => this.writeProbe(timeoutMs), timeoutMs));
  }

  private async writeProbe(timeoutMs: number): Promise<void> {
    if (this.autoMigrate && !this.isReady) await this.ready();
    const deletes = COMPONENT_TABLES[this.component].map((name) => `DELETE FROM ${this.t.table(name)} WHERE false`);
    // One simple-protocol query: its statements run in one implicit transaction, which SET LOCAL applies to.
    const text = [`SET LOCAL lock_timeout = ${timeoutMs}`, `SET LOCAL statement_timeout = ${timeoutMs}`, ...deletes].join('; ');
    await this.pool.query({ text, query_timeout: timeoutMs } as pg.QueryConfig);
  }

  /** Refuses calls from now on, and resolves once the background prune in flight, if any, has ended. */
  async close(): Promise<void> {
    this.closed = true;
    const pruner = this.pruner;
    this.pruner = undefined;
    await pruner?.stop();
    await this.onClose();
  }

  protected async onClose(): Promise<void> {}
}
