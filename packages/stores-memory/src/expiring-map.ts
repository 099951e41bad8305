import { ExpiryHeap } from './expiry-heap.js';
import { type KeyMap, ShardedMap } from './sharded-map.js';

/** A record with an expiry (epoch ms); `Infinity` never expires. */
export interface Expiring {
  expiresAt: number;
  /** Bookkeeping of {@link ExpiringMap}: the time its heap entry for this record fires. */
  scheduledAt?: number;
}

/** Entries past which an unbounded map is split (see {@link ShardedMap}). */
export const SHARD_AT = 1 << 13;

interface HeapEntry<K, V> {
  at: number;
  key: K;
  value: V;
}

export interface ExpiringMapOptions<K, V> {
  /** Most entries kept; beyond it the least recently used is evicted. @default Infinity */
  maxEntries?: number;
  /** Told of every entry that leaves the map (delete, expiry, eviction). */
  onRemove?: (key: K, value: V) => void;
}

/**
 * A map whose entries expire, reclaimed without a timer per key: expiries go into one
 * min-heap, and `sweep(now)` pops what is due. A record whose expiry moves later keeps its
 * heap entry (no push): when that entry fires, the record is found still alive and is
 * re-scheduled at its new expiry. Only an earlier expiry pushes a new entry. Entries of
 * replaced records are skipped when popped, and the heap is rebuilt when stale entries
 * outnumber live ones. With `maxEntries`, reads and writes keep a least-recently-used order
 * (Map insertion order) and the oldest entry goes first.
 */
export class ExpiringMap<K, V extends Expiring> {
  /**
   * A `Map`; without `maxEntries` (where insertion order is the LRU order) it becomes a
   * {@link ShardedMap} past {@link SHARD_AT} entries, so that it grows in small steps.
   */
  private map: KeyMap<K, V> = new Map<K, V>();
  private readonly heap = new ExpiryHeap<HeapEntry<K, V>>();
  private readonly maxEntries: number;
  /**
   * Keys in least-recently-used order, kept across evictions: everything before its position
   * is gone, so its next key is the oldest. A fresh `keys().next()` would step over every
   * deleted slot V8 keeps at the front of the map, O(maxEntries) per eviction.
   */
  private oldest: IterableIterator<K> | undefined;
  private readonly onRemove: ((key: K, value: V) => void) | undefined;

  constructor(options: ExpiringMapOptions<K, V> = {}) {
    this.maxEntries = options.maxEntries ?? Number.POSITIVE_INFINITY;
    this.onRemove = options.onRemove;
  }

  get size(): number {
    return this.map.size;
  }

  /** The live entry, or `undefined` (an expired one is removed on the way). */
  get(key: K, now: number): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) return undefined;
    if (v.expiresAt <= now) {
      this.remove(key, v);
      return undefined;
    }
    if (this.maxEntries !== Number.POSITIVE_INFINITY) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  /** Inserts or replaces. */
  set(key: K, value: V): void {
    const old = this.map.get(key);
    if (old !== undefined) {
      this.map.delete(key);
      if (old !== value) this.onRemove?.(key, old);
    }
    this.map.set(key, value);
    this.schedule(key, value);
    // One move of 8,192 entries (about 10 ms), in place of a rehash of the whole map at each doubling.
    if (this.map.size > SHARD_AT && this.maxEntries === Number.POSITIVE_INFINITY && this.map instanceof Map) {
      const plain = this.map;
      this.map = ShardedMap.from(plain);
      // An iterator still open on the plain map (`values()`) then ends instead of showing entries deleted later.
      plain.clear();
    }
    if (this.map.size > this.maxEntries) {
      this.oldest ??= (this.map as Map<K, V>).keys();
      const oldest = this.oldest.next().value as K;
      this.remove(oldest, this.map.get(oldest)!);
    }
  }

  /** Call after changing `value.expiresAt` of an entry in the map. */
  retime(key: K, value: V): void {
    const at = value.scheduledAt;
    if (at === undefined || value.expiresAt < at) this.schedule(key, value);
  }

  delete(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) this.remove(key, v);
    return v;
  }

  /**
   * Entries, live or not yet swept, for scans (e.g. by owner): not in insertion order once the
   * map is split; an iterator held across a `set` may end early (at the split).
   */
  values(): IterableIterator<V> {
    return this.map.values();
  }

  /** Removes every entry due at `now`; returns how many. */
  sweep(now: number): number {
    let removed = 0;
    const heap = this.heap;
    while (heap.length > 0 && heap.peek()!.at <= now) {
      const top = heap.pop()!;
      const current = this.map.get(top.key);
      if (current !== top.value || current.scheduledAt !== top.at) continue;
      if (current.expiresAt <= now) {
        this.remove(top.key, current);
        removed++;
      } else {
        this.schedule(top.key, current);
      }
    }
    return removed;
  }

  clear(): void {
    this.map.clear();
    this.map = new Map<K, V>();
    this.oldest = undefined;
    this.heap.clear();
  }

  private remove(key: K, value: V): void {
    this.map.delete(key);
    this.onRemove?.(key, value);
  }

  private schedule(key: K, value: V): void {
    if (value.expiresAt === Number.POSITIVE_INFINITY) {
      value.scheduledAt = undefined;
      return;
    }
    value.scheduledAt = value.expiresAt;
    this.heap.push({ at: value.expiresAt, key, value });
    // Stale heap entries (replaced or re-timed records) are dropped in one rebuild when
    // they outnumber the live ones, keeping the heap O(live entries).
    if (this.heap.length > 1024 && this.heap.length > 2 * this.map.size) this.heap.rebuild(this.scheduled());
  }

  /** A heap entry for each record with a finite expiry. */
  private *scheduled(): IterableIterator<HeapEntry<K, V>> {
    for (const [key, value] of this.map) if (value.scheduledAt !== undefined) yield { at: value.scheduledAt, key, value };
  }
}
