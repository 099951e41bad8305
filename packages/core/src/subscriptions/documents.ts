import type { CallOptions } from '../contracts/common.js';
import type { SessionStore } from '../contracts/session.js';
import { type ErrorSource, StowageError } from '../errors.js';
import { MAX_DURATION_MS } from '../validate.js';

/** How many times a read-modify-write is retried when another writer got there first. */
const MAX_ATTEMPTS = 64;

/** What an update decides: a new document to write, `null` to delete it, `undefined` to leave it. */
export interface Decision<T, R> {
  write?: T | null;
  result: R;
}

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
    const record = await this.sessions.get(this.prefix + key, opts);
    if (record === undefined) return undefined;
    let value: T;
    try {
      value = JSON.parse(Buffer.from(record.data).toString('utf8')) as T;
    } catch (cause) {
      throw this.source.error('CORRUPT', `stored document ${key} is not JSON`, { cause });
    }
    return { value, version: record.version };
  }

  /** Writes `value` if the document is still at `ifVersion` (0: absent). False on a lost race. */
  async write<T>(key: string, value: T, ifVersion: number, opts: CallOptions): Promise<boolean> {
    try {
      await this.sessions.set(this.prefix + key, Buffer.from(JSON.stringify(value), 'utf8'), {
        ttlMs: MAX_DURATION_MS,
        ifVersion,
        ...opts,
      });
      return true;
    } catch (err) {
      if (StowageError.is(err, 'CONFLICT')) return false;
      throw err;
    }
  }

  async remove(key: string, opts: CallOptions): Promise<boolean> {
    return this.sessions.destroy(this.prefix + key, opts);
  }

  /** Read, decide, write with CAS, until no other writer interleaves. `decide` may run more than once. */
  async update<T, R>(key: string, opts: CallOptions, decide: (current: T | undefined) => Decision<T, R>): Promise<R> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const found = await this.read<T>(key, opts);
      const { write, result } = decide(found?.value);
      if (write === undefined) return result;
      if (write === null) {
        if (found !== undefined) await this.remove(key, opts);
        return result;
      }
      if (await this.write(key, write, found?.version ?? 0, opts)) return result;
      // Lost the race: back off a little so contending replicas spread out.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** attempt)));
    }
    throw this.source.error('UNAVAILABLE', `document ${key} changed under ${MAX_ATTEMPTS} attempts in a row; try again`);
  }
}
