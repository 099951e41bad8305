import type { Clock, StoreOptionsBase } from '@stowage/core';
import {
  type StoreCall,
  checkDeadline,
  deadlineOf,
  ErrorSource,
  readClock,
  validateClock,
  validateIdentifier,
  validateOptions,
} from '@stowage/core/adapter-kit';

/**
 * The backend: one `Map` of tables, shared by every store of the process, as one Redis server
 * is shared by every replica of an application. A table is named `<prefix>:<table>`, so two
 * stores with one prefix read and write the same records, and two prefixes never meet.
 *
 * The stores never change a record in place: each write puts a new frozen object, and each
 * answer is built fresh, so no caller ever holds an object the backend holds.
 */
export type MapBackend = Map<string, Map<string, unknown>>;

/** Options of every store in this package. */
export interface MapStoreOptions extends StoreOptionsBase {
  /** The shared backend. `close()` leaves it as it is: it belongs to the caller, like a client. */
  backend: MapBackend;
  /** The namespace: 1 to 40 characters of `[A-Za-z0-9_]`, not starting with a digit. */
  prefix: string;
}

const PACKAGE = 'stowage-adapter-map-example';

/**
 * What the three stores share: options, the one order of checks at the start of every call,
 * `prune` over a table, and `close`.
 */
export abstract class MapStore<Entry> {
  protected readonly source: ErrorSource;
  /** The table `prune` reclaims. */
  protected readonly records: Map<string, Entry>;
  private readonly backend: MapBackend;
  private readonly prefix: string;
  private readonly clock: Clock | undefined;
  private closed = false;

  /** Throws `INVALID_ARGUMENT` for bad options: a constructor cannot reject. */
  constructor(storeName: string, table: string, options: MapStoreOptions) {
    this.source = new ErrorSource(PACKAGE, storeName);
    const o = validateOptions<MapStoreOptions>(this.source, 'options', options);
    if (!(o.backend instanceof Map)) throw this.source.invalid('options.backend must be a Map');
    this.backend = o.backend;
    this.prefix = validateIdentifier(this.source, 'options.prefix', o.prefix);
    this.clock = validateClock(this.source, o.clock);
    this.records = this.table<Entry>(table);
  }

  /** The table `name` of this store's namespace, created empty on first use. */
  protected table<T>(name: string): Map<string, T> {
    const key = `${this.prefix}:${name}`;
    let table = this.backend.get(key);
    if (table === undefined) this.backend.set(key, (table = new Map()));
    // The backend is untyped storage; each table holds the entries of one store class.
    return table as Map<string, T>;
  }

  /**
   * Starts a call whose other arguments are already valid, in the contracts' order: a
   * malformed `opts.deadline` is `INVALID_ARGUMENT`, then a closed store is `UNAVAILABLE`,
   * then a deadline already passed is `TIMEOUT`. `call`, the method's entry of `STORE_CALLS`,
   * refuses any option the method does not take. Returns the store's time.
   *
   * That is all a deadline needs here: a call runs to its end synchronously once started
   * (no `await` inside), so it is also atomic against every other store on the backend.
   */
  protected begin(opts: unknown, call?: StoreCall): number {
    const deadline = deadlineOf(this.source, opts, call);
    if (this.closed) throw this.source.error('UNAVAILABLE', 'the store is closed');
    checkDeadline(this.source, deadline);
    return this.clock === undefined ? Date.now() : readClock(this.source, this.clock);
  }

  /** What `prune` does with one entry at `now`: how many records it reclaimed (0 leaves it). */
  protected abstract reclaim(key: string, entry: Entry, now: number): number;

  /** Deletes the records that have expired and returns exactly how many. */
  async prune(): Promise<number> {
    const now = this.begin(undefined);
    let removed = 0;
    for (const [key, entry] of this.records) removed += this.reclaim(key, entry, now);
    return removed;
  }

  /** Idempotent; every call after it rejects with `UNAVAILABLE`. The backend is kept. */
  async close(): Promise<void> {
    this.closed = true;
  }
}
