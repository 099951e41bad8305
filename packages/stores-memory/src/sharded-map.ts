/** What {@link ExpiringMap} needs of a map: a `Map`, or a {@link ShardedMap}. */
export interface KeyMap<K, V> extends Iterable<[K, V]> {
  readonly size: number;
  get(key: K): V | undefined;
  set(key: K, value: V): unknown;
  delete(key: K): boolean;
  clear(): void;
  values(): IterableIterator<V>;
}

const SHARDS = 64;

/**
 * Where a key goes: FNV-1a over all its UTF-16 code units. Keys often differ only in the middle
 * (`10.0.0.7:POST /login`, `https://tenant7.example.com/jwks.json`), so no part of one can be
 * skipped; the stores' keys are at most 1024 bytes. Keys that are not strings all go to one part.
 */
function shardOf(key: unknown): number {
  if (typeof key !== 'string') return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h ^ (h >>> 16)) & (SHARDS - 1);
}

/**
 * A map split into 64 `Map`s by a hash of the key. A `Map` grows by rehashing all its entries
 * in one call, which holds the whole process: measured on this machine, 213 ms for one `Map`
 * reaching 2^20 string keys, and a call of 1.4 s while two stores filled to 2 x 10^6 keys
 * (`npm run bench:fill`). Split, each part grows on its own at 1/64 of the size. More parts
 * cost more: 256 made filling 30 % slower, their smaller tables being copied by the young
 * generation's collector. Iteration order is per part, so it is no insertion order (an LRU
 * bound keeps a plain `Map`). A map starts plain and is split once it is large (`ExpiringMap`).
 */
export class ShardedMap<K, V> implements KeyMap<K, V> {
  private readonly shards: (Map<K, V> | undefined)[] = new Array(SHARDS).fill(undefined);
  private count = 0;

  /** A sharded map holding the entries of `map`. */
  static from<K, V>(map: Map<K, V>): ShardedMap<K, V> {
    const sharded = new ShardedMap<K, V>();
    map.forEach((v, k) => {
      sharded.set(k, v);
    });
    return sharded;
  }

  get size(): number {
    return this.count;
  }

  get(key: K): V | undefined {
    return this.shards[shardOf(key)]?.get(key);
  }

  set(key: K, value: V): this {
    const i = shardOf(key);
    let shard = this.shards[i];
    if (shard === undefined) this.shards[i] = shard = new Map();
    const before = shard.size;
    shard.set(key, value);
    this.count += shard.size - before;
    return this;
  }

  delete(key: K): boolean {
    if (this.shards[shardOf(key)]?.delete(key) !== true) return false;
    this.count--;
    return true;
  }

  clear(): void {
    // Cleared, not only dropped: an iterator still open on a part then ends, as a Map's does.
    for (const shard of this.shards) shard?.clear();
    this.shards.fill(undefined);
    this.count = 0;
  }

  *values(): IterableIterator<V> {
    for (const shard of this.shards) if (shard !== undefined) yield* shard.values();
  }

  *[Symbol.iterator](): IterableIterator<[K, V]> {
    for (const shard of this.shards) if (shard !== undefined) yield* shard;
  }
}
