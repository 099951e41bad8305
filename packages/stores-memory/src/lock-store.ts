import type { CallOptions, Lease, LockStore } from '@stowage/core';
import {
  STORE_CALLS,
  type OwnOptionNames,
  randomToken,
  validateDuration,
  validateKey,
  validateToken,
  validateTtlOption,
} from '@stowage/core/adapter-kit';
import { MemoryStoreBase, type MemoryStoreOptions } from './base.js';
import { ExpiringMap } from './expiring-map.js';

const CALLS = STORE_CALLS.lock;

interface Held {
  token: string;
  fence: number;
  expiresAt: number;
}

/** This store's options beside the backend's: all but `maxEntries` (a lock is never evicted). */
const OWN_OPTIONS: OwnOptionNames<Omit<MemoryStoreOptions, 'maxEntries'>, MemoryStoreOptions> = { maxEntries: false };

/**
 * {@link LockStore} in process memory. Leases are never evicted (that would break mutual
 * exclusion), so `maxEntries` does not apply; a name's fence counter is kept for the life
 * of the store.
 */
export class MemoryLockStore extends MemoryStoreBase implements LockStore {
  private readonly leases = new ExpiringMap<string, Held>();
  private readonly fences = new Map<string, number>();

  constructor(options: Omit<MemoryStoreOptions, 'maxEntries'> = {}) {
    super('MemoryLockStore', options, OWN_OPTIONS);
    this.instrument('lock');
  }

  async acquire(name: string, opts: { ttlMs: number } & CallOptions): Promise<Lease | undefined> {
    validateKey(this.source, 'name', name);
    const ttlMs = validateTtlOption(this.source, opts);
    const now = this.begin(opts, CALLS.acquire);
    if (this.leases.get(name, now) !== undefined) return undefined;
    const fence = (this.fences.get(name) ?? 0) + 1;
    this.fences.set(name, fence);
    const held: Held = { token: randomToken(), fence, expiresAt: now + ttlMs };
    this.leases.set(name, held);
    return { token: held.token, fence: held.fence, expiresAt: held.expiresAt };
  }

  async extend(name: string, token: string, ttlMs: number, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'name', name);
    validateToken(this.source, 'token', token);
    validateDuration(this.source, 'ttlMs', ttlMs);
    const now = this.begin(opts, CALLS.extend);
    const held = this.leases.get(name, now);
    if (held === undefined || held.token !== token) return false;
    held.expiresAt = now + ttlMs;
    this.leases.retime(name, held);
    return true;
  }

  async release(name: string, token: string, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'name', name);
    validateToken(this.source, 'token', token);
    const now = this.begin(opts, CALLS.release);
    const held = this.leases.get(name, now);
    if (held === undefined || held.token !== token) return false;
    this.leases.delete(name);
    return true;
  }

  protected sweep(now: number): number {
    return this.leases.sweep(now);
  }

  protected override onClose(): void {
    this.leases.clear();
  }
}
