import type { BackgroundErrorHandler, HealthOptions, HealthResult, Healthy, StoreOptionsBase } from '@stowage/core';
import {
  type StoreCall,
  backgroundReporter,
  type BackgroundReport,
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
  validateInteger,
  validateOptionNames,
  validateOptions,
} from '@stowage/core/adapter-kit';

export interface MemoryStoreOptions extends StoreOptionsBase {
  /**
   * Most records kept; beyond it the least recently used record is evicted (for rate limits
   * that key starts fresh; for sessions and tokens the record is gone).
   * @default Infinity (no bound but expiry)
   */
  maxEntries?: number;
  /**
   * How often one unref'd timer runs `prune()`, reclaiming the memory of expired records (the
   * name and meaning of the SQLite and PostgreSQL option; on by default here). Expired records are
   * invisible at once regardless; this only reclaims memory.
   * @default 1000
   */
  pruneIntervalMs?: number;
  /**
   * Receives each failure of the background sweep (operation `prune`; `cleanupExpired` for
   * streams), such as a custom clock that throws; see {@link BackgroundErrorHandler}.
   * @default one `console.error` line with the store, the operation, the error's code and message
   */
  onError?: BackgroundErrorHandler;
}

export const PACKAGE = '@stowage/stores-memory';

/**
 * Each option of {@link MemoryStoreOptions}, once: the store refuses a name outside them and the options of
 * its own kind (a subclass's `ownOptions`).
 */
const OPTION_NAMES: Readonly<Record<keyof MemoryStoreOptions, true>> = {
  clock: true,
  telemetry: true,
  maxEntries: true,
  pruneIntervalMs: true,
  onError: true,
};

/** Clock, validation, the sweep timer, `health()` and `close()`, shared by the memory stores. */
export abstract class MemoryStoreBase implements Healthy {
  protected readonly source: ErrorSource;
  /** Reports a failure of background work to `options.onError`. */
  protected readonly report: BackgroundReport;
  protected readonly maxEntries: number | undefined;
  private readonly clock: () => number;
  private readonly customClock: boolean;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly telemetry: StoreTelemetry;

  constructor(storeName: string, options: unknown, ownOptions: Readonly<Record<string, boolean>> = {}) {
    this.source = new ErrorSource(PACKAGE, storeName);
    const o = validateOptions<MemoryStoreOptions>(this.source, 'options', options);
    validateOptionNames(this.source, 'options', o, { ...OPTION_NAMES, ...ownOptions });
    const clock = validateClock(this.source, o.clock);
    this.clock = clock ?? Date.now;
    this.customClock = clock !== undefined;
    this.maxEntries = o.maxEntries === undefined ? undefined : validateInteger(this.source, 'options.maxEntries', o.maxEntries, 1);
    // `memory` is no value of the semantic conventions' `db.system.name`: a custom one.
    this.telemetry = { system: 'memory', enabled: validateBoolean(this.source, 'options.telemetry', o.telemetry, true) };
    const every =
      o.pruneIntervalMs === undefined ? 1000 : validateInteger(this.source, 'options.pruneIntervalMs', o.pruneIntervalMs, 1, 86_400_000);
    this.report = backgroundReporter(this.source, 'options.onError', o.onError);
    // A sweep that throws (a custom clock that fails) would be an uncaught exception in a timer.
    this.sweeper = setInterval(() => {
      try {
        this.sweep(this.now());
      } catch (err) {
        this.report(err, this.sweepOperation);
      }
    }, every);
    this.sweeper.unref();
  }

  /** Instruments the store's operations (see `instrumentStore`); the last step of each store's constructor. */
  protected instrument(contract: StoreContract): void {
    instrumentStore(this, contract, this.telemetry);
  }

  /** What the sweep does, as its failures name it (`BackgroundErrorContext.operation`). */
  protected get sweepOperation(): string {
    return 'prune';
  }

  /** Removes expired records from memory; returns how many. */
  protected abstract sweep(now: number): number;

  /** The store's time; throws `UNAVAILABLE` once closed. */
  protected now(): number {
    if (this.closed) throw this.source.error('UNAVAILABLE', 'the store is closed');
    return this.customClock ? readClock(this.source, this.clock) : Date.now();
  }

  /**
   * Starts a call whose other arguments are valid and returns the store's time, in the order
   * of every contract (see `CallOptions`): the caller's deadline (`opts.deadline`) malformed is
   * `INVALID_ARGUMENT`, then `UNAVAILABLE` once closed, then `TIMEOUT` if the deadline has
   * passed, with nothing done (`call`, the method's entry of `STORE_CALLS`: any option it does
   * not take is refused). Once started, a memory call runs to its end synchronously, so that
   * is all a deadline can do here.
   */
  protected begin(opts: unknown, call?: StoreCall): number {
    const deadline = opts === undefined ? undefined : deadlineOf(this.source, opts, call);
    if (this.closed) throw this.source.error('UNAVAILABLE', 'the store is closed');
    if (deadline !== undefined) checkDeadline(this.source, deadline);
    return this.customClock ? readClock(this.source, this.clock) : Date.now();
  }

  /** Deletes expired records at once (the sweep does it in the background) and returns the count. */
  async prune(): Promise<number> {
    return this.sweep(this.now());
  }

  /** See `Healthy`: memory always answers while open; nothing is probed. */
  health(opts?: HealthOptions): Promise<HealthResult> {
    return storeHealth(this.closed, opts, (timeoutMs) => measureHealth(async () => {}, timeoutMs));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.onClose();
  }

  protected onClose(): void {}
}
