import type { CallOptions } from '../contracts/common.js';
import type { SessionStore } from '../contracts/session.js';
import { type ErrorSource, StowageError } from '../errors.js';
import { MAX_DURATION_MS } from '../validate.js';

/** How many times a read-modify-write is retried when another writer got there first. */
const MAX_ATTEMPTS = 64;

/**
 * What a deleted document becomes. Destroying the session would restart its version at 1 when
 * the key is written again, so a writer that read the old document could compare-and-swap
 * over the new one (ABA); a tombstone keeps the version counting. Kept a day, far longer than
 * any read-decide-write takes.
 */
const TOMBSTONE = { '@deleted': true } as const;
const TOMBSTONE_TTL_MS = 86_400_000;

function isTombstone(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<string, unknown>)['@deleted'] === true;
}

/** What an update decides: a new document to write, `null` to delete it, `undefined` to leave it. */
export interface Decision<T, R> {
  write?: T | null;
  result: R;
}

/**
 * Every object of a stored document without a prototype: its maps are keyed by stream paths
 * and subscription ids a client chose, and `__proto__`, `toString` or `constructor` must be a
 * key like any other, never Object.prototype's (which a write to `links['__proto__']` would change).
 */
export function withoutPrototype(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.assign(Object.create(null) as object, value);
}

/** An empty map for a stored document (see {@link withoutPrototype}). */
export const emptyMap = <V>(): Record<string, V> => Object.create(null) as Record<string, V>;

/**
 * JSON documents with compare-and-swap, on any SessionStore: a document is a session that
 * never expires (ten years, renewed on every write) and its `version` is the CAS token. Every
 * update reads, decides and writes `ifVersion`; a conflict means another replica wrote in
 * between, and the update runs again on what it wrote.
 */
export class Documents {
  constructor(
    private readonly sessions: SessionStore,
    private readonly prefix: string,
    private readonly source: ErrorSource,
  ) {}

  async read<T>(key: string, opts: CallOptions): Promise<{ value: T; version: number } | undefined> {
    const found = await this.#readStored<T>(key, opts);
    return found === undefined || isTombstone(found.value) ? undefined : found;
  }

  /** The stored value, tombstones included. */
  async #readStored<T>(key: string, opts: CallOptions): Promise<{ value: T; version: number } | undefined> {
    const record = await this.sessions.get(this.prefix + key, opts);
    if (record === undefined) return undefined;
    let value: T;
    try {
      value = JSON.parse(Buffer.from(record.data).toString('utf8'), withoutPrototype) as T;
    } catch (cause) {
      throw this.source.error('CORRUPT', `stored document ${key} is not JSON`, { cause });
    }
    return { value, version: record.version };
  }

  /** Writes `value` if the document is still at `ifVersion` (0: absent). False on a lost race. */
  async write<T>(key: string, value: T, ifVersion: number, opts: CallOptions, ttlMs = MAX_DURATION_MS): Promise<boolean> {
    try {
      await this.sessions.set(this.prefix + key, Buffer.from(JSON.stringify(value), 'utf8'), {
        ttlMs,
        ifVersion,
        ...opts,
      });
      return true;
    } catch (err) {
      if (StowageError.is(err, 'CONFLICT')) return false;
      throw err;
    }
  }

  /** Deletes the document (leaving a tombstone). False if there was none. */
  async remove(key: string, opts: CallOptions): Promise<boolean> {
    return this.update<unknown, boolean>(key, opts, (doc) => (doc === undefined ? { result: false } : { write: null, result: true }));
  }

  /** Read, decide, write with CAS, until no other writer interleaves. `decide` may run more than once. */
  async update<T, R>(key: string, opts: CallOptions, decide: (current: T | undefined) => Decision<T, R>): Promise<R> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const found = await this.#readStored<T>(key, opts);
      const current = found === undefined || isTombstone(found.value) ? undefined : found;
      const { write, result } = decide(current?.value);
      if (write === undefined || (write === null && current === undefined)) return result;
      // Over a tombstone too: its version, not 0, so the key's versions never repeat.
      const version = found?.version ?? 0;
      const written =
        write === null ? await this.write(key, TOMBSTONE, version, opts, TOMBSTONE_TTL_MS) : await this.write(key, write, version, opts);
      if (written) return result;
      // Lost the race: back off a little so contending replicas spread out.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** attempt)));
    }
    throw this.source.error('UNAVAILABLE', `document ${key} changed under ${MAX_ATTEMPTS} attempts in a row; try again`);
  }
}
