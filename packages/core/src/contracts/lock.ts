import type { CallOptions, Closeable, Prunable } from './common.js';

/** A lease on a named lock. */
export interface Lease {
  /** 128-bit random token proving this holder; pass it to `extend` and `release`. */
  token: string;
  /**
   * Fencing token: strictly increases with every successful acquire of this name, across
   * expiry and release, so a resource can reject a stale holder (reject writes whose fence is
   * below the highest it has seen).
   */
  fence: number;
  /** When the lease ends unless extended, epoch ms on the store's clock. */
  expiresAt: number;
}

/**
 * Leases with fencing tokens: `Lease.fence` (a counter, the fencing token) and `Lease.token`
 * (a random owner token naming the holder).
 *
 * At most one live lease per name. A name's fence counter outlives its leases (it is
 * kept after release and expiry, a few bytes per name) so fences never repeat.
 *
 * Every method takes the caller's deadline ({@link CallOptions}): an `acquire` its caller was
 * told failed never holds the name.
 */
export interface LockStore extends Closeable, Prunable {
  /** A new lease, or `undefined` while another lease on `name` is live. */
  acquire(name: string, opts: { ttlMs: number } & CallOptions): Promise<Lease | undefined>;

  /** Moves the lease's end to `now + ttlMs`. True if `token` holds the live lease. */
  extend(name: string, token: string, ttlMs: number, opts?: CallOptions): Promise<boolean>;

  /** Ends the lease at once. True if `token` held the live lease. */
  release(name: string, token: string, opts?: CallOptions): Promise<boolean>;

  /**
   * {@link Prunable.prune}: one record is one lease that ran out unreleased (a release
   * forgets its lease at once, so it is not counted). Fence counters are never pruned.
   */
  prune(): Promise<number>;
}
