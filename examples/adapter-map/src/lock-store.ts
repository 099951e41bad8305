import type { CallOptions, Lease, LockStore } from '@stowage/core';
import { STORE_CALLS, randomToken, validateDuration, validateKey, validateToken, validateTtlOption } from '@stowage/core/adapter-kit';
import { MapStore, type MapStoreOptions } from './map-store.js';

const CALLS = STORE_CALLS.lock;

/** {@link LockStore} on the shared `Map` backend: a table of leases and one of fence counters. */
export class MapLockStore extends MapStore<Lease> implements LockStore {
  /** The last fence of each name. Kept after its lease ends, so fences never repeat; never pruned. */
  private readonly fences: Map<string, number>;

  constructor(options: MapStoreOptions) {
    super('MapLockStore', 'leases', options);
    this.fences = this.table<number>('fences');
  }

  /** The lease on `name` if `token` holds it live at `now`. */
  private held(name: string, token: string, now: number): Lease | undefined {
    const lease = this.records.get(name);
    return lease !== undefined && lease.expiresAt > now && lease.token === token ? lease : undefined;
  }

  async acquire(name: string, opts: { ttlMs: number } & CallOptions): Promise<Lease | undefined> {
    validateKey(this.source, 'name', name);
    const ttlMs = validateTtlOption(this.source, opts);
    const now = this.begin(opts, CALLS.acquire);
    const current = this.records.get(name);
    if (current !== undefined && current.expiresAt > now) return undefined;
    const fence = (this.fences.get(name) ?? 0) + 1;
    this.fences.set(name, fence);
    const lease: Lease = Object.freeze({ token: randomToken(), fence, expiresAt: now + ttlMs });
    this.records.set(name, lease);
    // Copy out: the caller's lease is its own.
    return { ...lease };
  }

  async extend(name: string, token: string, ttlMs: number, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'name', name);
    validateToken(this.source, 'token', token);
    validateDuration(this.source, 'ttlMs', ttlMs);
    const now = this.begin(opts, CALLS.extend);
    const lease = this.held(name, token, now);
    if (lease === undefined) return false;
    this.records.set(name, Object.freeze({ ...lease, expiresAt: now + ttlMs }));
    return true;
  }

  async release(name: string, token: string, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'name', name);
    validateToken(this.source, 'token', token);
    if (this.held(name, token, this.begin(opts, CALLS.release)) === undefined) return false;
    // Forgotten at once: `prune` counts only the leases that ran out.
    return this.records.delete(name);
  }

  protected reclaim(name: string, lease: Lease, now: number): number {
    return lease.expiresAt <= now ? Number(this.records.delete(name)) : 0;
  }
}
