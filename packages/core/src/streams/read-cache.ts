// Messages a store has read, kept in the process: a stream is read many times per write, and a
// catch-up read of a durable store otherwise fetches the same bytes from the database each time.
//
// An entry is never stale. A stream's messages never change once its tail covers them, and a
// stream's id is new each time a name is made (a stream deleted and made again is another id),
// so message `p` of stream `id` is the same bytes for as long as `id` exists. Only what a read
// found at or below the tail it saw is put here, and every read still reads the stream's row
// first (the store's own statement or script), so a gone stream's entries are never reached;
// they leave with the least recently read.

import type { ErrorSource } from '../errors.js';
import { validateInteger } from '../validate.js';
import { EMPTY_RUN, fitting, joinRuns, type MessageRun, runPrefix } from './run.js';

export interface StreamReadCacheOptions {
  /**
   * Bytes of stream messages this store keeps in the process to answer reads of them again
   * without fetching them from the database (every read still reads the stream's row: see the
   * store's `read`), counting the last stream id read under each name (at most a sixteenth of
   * it) and bookkeeping. Streams least recently read leave first; a read larger than a quarter
   * of it is not kept; 0 keeps nothing.
   * @default 67108864 (64 MiB)
   */
  readCacheBytes?: number | undefined;
}

export const DEFAULT_READ_CACHE_BYTES = 64 * 1024 * 1024;

/** Consecutive messages of one stream: message `i` is at position `first + i`. */
interface Chunk {
  first: number;
  bytes: Uint8Array;
  ends: ArrayLike<number>;
}

/** What the cache holds of a read: its messages from `after + 1` through `through`. */
export interface CachedPart {
  run: MessageRun;
  /** Position of the last cached message of the read (`after` when none is). */
  through: number;
  /** The read needs nothing more: the limits or `upTo` were reached in the cache. */
  full: boolean;
}

// Adjacent small chunks (a reader at the tail reads a message or a few at a time) are joined,
// so a stream's chunks stay few; a chunk is not grown past this by joining.
const JOIN_BELOW = 256 * 1024;
// Bookkeeping counted per chunk and per message, beside the bytes.
const CHUNK_COST = 64;
const END_COST = 8;

// A name and an id as JavaScript strings (2 bytes a code unit) in a map entry.
const nameCost = (name: string, id: string): number => 2 * (name.length + id.length) + CHUNK_COST;
const cost = (c: Chunk): number => c.bytes.byteLength + c.ends.length * END_COST + CHUNK_COST;
const lastOf = (c: Chunk): number => c.first + c.ends.length - 1;

/** Messages `from`..`to` (indexes) of a chunk, a view of it. */
function slice(c: Chunk, from: number, to: number): MessageRun {
  const start = from === 0 ? 0 : c.ends[from - 1]!;
  const ends: number[] = new Array(to - from);
  for (let i = from; i < to; i++) ends[i - from] = c.ends[i]! - start;
  return { bytes: c.bytes.subarray(start, c.ends[to - 1]), ends };
}

/**
 * A store's cache of messages by stream id and position, bounded in bytes, with the last id
 * read under each name (so a read by name can ask its statement for the uncached rest only).
 */
export class StreamReadCache {
  private readonly streams = new Map<string, Chunk[]>();
  private readonly ids = new Map<string, string>();
  /** Bytes held: messages and their bookkeeping, and the names' ids (`namesSize` of it). */
  private size = 0;
  private namesSize = 0;

  constructor(readonly maxBytes: number) {}

  /** The cache of `options.readCacheBytes` (validated as that field of `source`'s store). */
  static of(source: ErrorSource, options: StreamReadCacheOptions): StreamReadCache {
    const { readCacheBytes = DEFAULT_READ_CACHE_BYTES } = options;
    return new StreamReadCache(validateInteger(source, 'options.readCacheBytes', readCacheBytes, 0));
  }

  /** The id last read under `name`, if any. */
  idOf(name: string): string | undefined {
    return this.maxBytes === 0 ? undefined : this.ids.get(name);
  }

  /**
   * The cached messages of `streamId` after `after`, consecutive, at most `maxMessages` and
   * `maxBytes` (the first always) and none past `upTo`. Views of the cache: the caller copies
   * unless it may share them (see `StreamReadOptions.readOnly`).
   */
  get(streamId: string, after: number, maxBytes: number, maxMessages: number, upTo = Number.MAX_SAFE_INTEGER): CachedPart {
    const chunks = this.streams.get(streamId);
    const none: CachedPart = { run: EMPTY_RUN, through: after, full: after >= upTo };
    if (chunks === undefined) return none;
    // Most recently read first.
    this.streams.delete(streamId);
    this.streams.set(streamId, chunks);
    let i = chunks.findIndex((c) => c.first <= after + 1 && lastOf(c) > after);
    if (i < 0) return none;
    const runs: MessageRun[] = [];
    let at = after;
    let bytes = 0;
    let count = 0;
    let full = false;
    while (i < chunks.length && chunks[i]!.first <= at + 1 && lastOf(chunks[i]!) > at && count < maxMessages && at < upTo) {
      const c = chunks[i]!;
      const from = at + 1 - c.first;
      const to = Math.min(c.ends.length, from + maxMessages - count, from + upTo - at);
      const part = slice(c, from, to);
      const fit = fitting(part, maxBytes - bytes, count === 0);
      if (fit === 0) {
        full = true; // the next message would pass maxBytes
        break;
      }
      runs.push(runPrefix(part, fit));
      at += fit;
      count += fit;
      bytes += part.ends[fit - 1]!;
      if (fit < to - from) {
        full = true;
        break;
      }
      i++;
    }
    if (runs.length === 0) return none;
    return { run: joinRuns(runs), through: at, full: full || count >= maxMessages || at >= upTo };
  }

  /** Keeps `run`, the messages of `streamId` from `after + 1` (read at or below its tail), and `name`'s id. */
  put(streamId: string, after: number, run: MessageRun, name?: string): void {
    if (this.maxBytes === 0) return;
    if (name !== undefined) this.remember(name, streamId);
    const n = run.ends.length;
    if (n === 0) return;
    const whole: Chunk = { first: after + 1, bytes: run.bytes, ends: run.ends };
    if (cost(whole) > this.maxBytes / 4) return; // one read would push most of the others out
    const chunks = this.streams.get(streamId) ?? [];
    this.streams.delete(streamId);
    // Only what no chunk holds yet (two readers of one range put it twice: the bytes are the same).
    const missing: [number, number][] = [];
    let p = whole.first;
    const last = lastOf(whole);
    for (const c of chunks) {
      if (lastOf(c) < p) continue;
      if (c.first > last) break;
      if (c.first > p) missing.push([p, c.first - 1]);
      p = lastOf(c) + 1;
    }
    if (p <= last) missing.push([p, last]);
    for (const [from, to] of missing) this.insert(chunks, from, slice(whole, from - whole.first, to - whole.first + 1));
    this.streams.set(streamId, chunks);
    this.evict();
  }

  /** Adds messages `first`... where no chunk is, joined to the chunk just before when both are small. */
  private insert(chunks: Chunk[], first: number, run: MessageRun): void {
    let at = chunks.findIndex((c) => c.first > first);
    if (at < 0) at = chunks.length;
    const before = chunks[at - 1];
    let add: Chunk;
    if (before !== undefined && lastOf(before) + 1 === first && before.bytes.byteLength + run.bytes.byteLength <= JOIN_BELOW) {
      this.size -= cost(before);
      const joined = joinRuns([before, run]);
      add = { first: before.first, bytes: joined.bytes, ends: joined.ends };
      chunks.splice(at - 1, 1, add);
    } else {
      // Our own copy: the reader's bytes are the reader's to change.
      add = { first, bytes: new Uint8Array(run.bytes), ends: Array.from(run.ends) };
      chunks.splice(at, 0, add);
    }
    this.size += cost(add);
  }

  private remember(name: string, streamId: string): void {
    const known = this.ids.get(name);
    if (known !== undefined) this.forget(name, known);
    this.ids.set(name, streamId);
    this.namesSize += nameCost(name, streamId);
    this.size += nameCost(name, streamId);
    // The names least recently read leave first, past a sixteenth of the bound.
    for (const [oldest, id] of this.ids) {
      if (this.namesSize <= this.maxBytes / 16) break;
      this.forget(oldest, id);
    }
    this.evict();
  }

  private forget(name: string, streamId: string): void {
    this.ids.delete(name);
    this.namesSize -= nameCost(name, streamId);
    this.size -= nameCost(name, streamId);
  }

  private evict(): void {
    for (const [id, chunks] of this.streams) {
      if (this.size <= this.maxBytes) return;
      for (const c of chunks) this.size -= cost(c);
      this.streams.delete(id);
    }
  }
}

/**
 * A read through the cache: `cached` (from {@link StreamReadCache.get}) followed by `fetched`,
 * the store's messages after `cached.through` (fetched with what the cached part left of the
 * limits), trimmed to the limits. `copy`: the caller owns the bytes (not `readOnly`).
 */
export function withCached(cached: CachedPart, fetched: MessageRun, maxBytes: number, maxMessages: number, copy: boolean): MessageRun {
  if (cached.run.ends.length === 0) return fetched;
  // A copy by `new Uint8Array`: a Buffer's `slice` is a view.
  if (fetched.ends.length === 0) return copy ? { bytes: new Uint8Array(cached.run.bytes), ends: cached.run.ends } : cached.run;
  const run = joinRuns([cached.run, fetched]);
  return runPrefix(run, Math.min(maxMessages, fitting(run, maxBytes, true)));
}

/**
 * A backend's read (see `StreamBackend.read`) through `cache`: the cached messages, then
 * `fetch(after, maxBytes, maxMessages)` for the rest with what they left of the limits.
 * Synchronous when `fetch` is (SQLite), a promise when it returns one.
 */
export function readThrough<R extends MessageRun | Promise<MessageRun>>(
  cache: StreamReadCache,
  streamId: string,
  read: { after: number; upTo: number; maxBytes: number; maxMessages: number; copy: boolean },
  fetch: (after: number, maxBytes: number, maxMessages: number) => R,
): R {
  const { after, upTo, maxBytes, maxMessages, copy } = read;
  const cached = cache.get(streamId, after, maxBytes, maxMessages, upTo);
  const finish = (fetched: MessageRun): MessageRun => {
    cache.put(streamId, cached.through, fetched);
    return withCached(cached, fetched, maxBytes, maxMessages, copy);
  };
  if (cached.full) return finish(EMPTY_RUN) as R;
  const fetched = fetch(cached.through, maxBytes - cached.run.bytes.byteLength, maxMessages - cached.run.ends.length);
  return (fetched instanceof Promise ? fetched.then(finish) : finish(fetched)) as R;
}
