import type { CallOptions, Lease, LockStore } from '@stowage/core';
import {
  STORE_CALLS,
  deadlineOf,
  randomToken,
  validateDuration,
  validateKey,
  validateToken,
  validateTtlOption,
} from '@stowage/core/adapter-kit';
import { RedisStoreBase, Script, tagged, type RedisStoreOptions } from './base.js';

const CALLS = STORE_CALLS.lock;

const LOCK = new Script('lock');

/**
 * {@link LockStore} on Redis: one hash per name (`<prefix>l:{name}`). The key does not
 * expire, so the fence counter survives every lease; a lease's end is its stored expiry.
 */
export class RedisLockStore extends RedisStoreBase implements LockStore {
  constructor(options: RedisStoreOptions) {
    super('RedisLockStore', options);
    this.instrument('lock');
  }

  async acquire(name: string, opts: { ttlMs: number } & CallOptions): Promise<Lease | undefined> {
    validateKey(this.source, 'name', name);
    const ttl = validateTtlOption(this.source, opts);
    const deadline = deadlineOf(this.source, opts, CALLS.acquire);
    const token = randomToken();
    const r = await this.run<[number, string] | null>(LOCK, [tagged(this.prefix, 'l', name)], ['acquire', token, ttl], deadline);
    return r === null ? undefined : { token, fence: Number(r[0]), expiresAt: Number(r[1]) };
  }

  async extend(name: string, token: string, ttlMs: number, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'name', name);
    validateToken(this.source, 'token', token);
    const ttl = validateDuration(this.source, 'ttlMs', ttlMs);
    const deadline = deadlineOf(this.source, opts, CALLS.extend);
    return (await this.run<number>(LOCK, [tagged(this.prefix, 'l', name)], ['extend', token, ttl], deadline)) === 1;
  }

  async release(name: string, token: string, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'name', name);
    validateToken(this.source, 'token', token);
    const deadline = deadlineOf(this.source, opts, CALLS.release);
    return (await this.run<number>(LOCK, [tagged(this.prefix, 'l', name)], ['release', token, 0], deadline)) === 1;
  }
}
