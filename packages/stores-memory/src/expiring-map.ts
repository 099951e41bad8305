/** A record with an expiry (epoch ms); `Infinity` never expires. */
export interface Expiring {
  expiresAt: number;
  /** Bookkeeping of {@link ExpiringMap}: the time its heap entry for this record fires. */
  scheduledAt?: number;
}

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
  private readonly map = new Map<K, V>();
  private heap: HeapEntry<K, V>[] = [];
  /** The heap's length at its largest since it was last reallocated (arrays never shrink their storage). */
  private heapHigh = 0;
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
    if (this.map.size > this.maxEntries) {
      this.oldest ??= this.map.keys();
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

  /** Entries, live or not yet swept, for scans (e.g. by owner). */
  values(): IterableIterator<V> {
    return this.map.values();
  }

  /** Removes every entry due at `now`; returns how many. */
  sweep(now: number): number {
    let removed = 0;
    const heap = this.heap;
    while (heap.length > 0 && heap[0]!.at <= now) {
      const top = this.pop();
      const current = this.map.get(top.key);
      if (current !== top.value || current.scheduledAt !== top.at) continue;
      if (current.expiresAt <= now) {
        this.remove(top.key, current);
        removed++;
      } else {
        this.schedule(top.key, current);
      }
    }
    if (heap.length * 4 < this.heapHigh) {
      // Give the emptied array storage back (a million expired keys leave 8 MB otherwise).
      this.heap = heap.slice();
      this.heapHigh = this.heap.length;
    }
    return removed;
  }

  clear(): void {
    this.map.clear();
    this.oldest = undefined;
    this.heap = [];
    this.heapHigh = 0;
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
    this.push({ at: value.expiresAt, key, value });
    // Stale heap entries (replaced or re-timed records) are dropped in one rebuild when
    // they outnumber the live ones, keeping the heap O(live entries).
    if (this.heap.length > 1024 && this.heap.length > 2 * this.map.size) this.rebuild();
  }

  private rebuild(): void {
    const fresh: HeapEntry<K, V>[] = [];
    for (const [key, value] of this.map) {
      if (value.scheduledAt !== undefined) fresh.push({ at: value.scheduledAt, key, value });
    }
    fresh.sort((a, b) => a.at - b.at);
    this.heap = fresh;
    this.heapHigh = fresh.length;
  }

  private push(entry: HeapEntry<K, V>): void {
    const heap = this.heap;
    let i = heap.push(entry) - 1;
    if (heap.length > this.heapHigh) this.heapHigh = heap.length;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= entry.at) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): HeapEntry<K, V> {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      const n = heap.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const child = r < n && heap[r]!.at < heap[l]!.at ? r : l;
        if (heap[child]!.at >= last.at) break;
        heap[i] = heap[child]!;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}
