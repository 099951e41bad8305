import type { CallOptions, IdempotencyStore, Reservation, StoredResponse } from '@stowage/core';
import {
  STORE_CALLS,
  deadlineOf,
  decodeStoredResponse,
  encodeStoredResponse,
  randomToken,
  validateCompleteArgs,
  validateDuration,
  validateHolderArgs,
  validateReserveArgs,
  sizeLimit,
  type IdempotencySizeOptions,
  type OwnOptionNames,
} from '@stowage/core/adapter-kit';
import { RedisStoreBase, Script, type RedisStoreOptions } from './base.js';

const CALLS = STORE_CALLS.idempotency;

export interface RedisIdempotencyStoreOptions extends RedisStoreOptions, IdempotencySizeOptions {}

const RESERVE = new Script('idempotency_reserve');
const SETTLE = new Script('idempotency_settle');

/** This store's options beyond the backend's. */
const OWN_OPTIONS: OwnOptionNames<RedisIdempotencyStoreOptions, RedisStoreOptions> = { maxResponseBytes: true };

/** {@link IdempotencyStore} on Redis: one hash per key, expired by Redis, one script per call. */
export class RedisIdempotencyStore extends RedisStoreBase implements IdempotencyStore {
  private readonly maxResponseBytes: number;

  constructor(options: RedisIdempotencyStoreOptions) {
    super('RedisIdempotencyStore', options, OWN_OPTIONS);
    this.maxResponseBytes = sizeLimit(this.source, options, 'maxResponseBytes');
    this.instrument('idempotency');
  }

  /** `<prefix>i:{<scope length>:<scope>}<key>`: the length makes scope and key unambiguous. */
  private id(scope: string, key: string): string {
    return `${this.prefix}i:{${scope.length}:${scope}}${key}`;
  }

  async reserve(scope: string, key: string, fingerprint: string, opts: { leaseMs: number } & CallOptions): Promise<Reservation> {
    const lease = validateReserveArgs(this.source, scope, key, fingerprint, opts);
    const deadline = deadlineOf(this.source, opts, CALLS.reserve);
    const id = this.id(scope, key);
    const token = randomToken();
    const r = await this.run<[Buffer, (Buffer | number)?]>(RESERVE, [id], [fingerprint, token, lease], deadline, true);
    const state = r[0].toString();
    if (state === 'reserved') return { state: 'reserved', token };
    if (state === 'in-flight') return { state: 'in-flight', retryAfterMs: Number(r[1]) };
    if (state === 'completed') return { state: 'completed', response: decodeStoredResponse(this.source, r[1] as Buffer) };
    return { state: 'mismatch' };
  }

  async complete(
    scope: string,
    key: string,
    token: string,
    response: StoredResponse,
    opts: { retentionMs: number } & CallOptions,
  ): Promise<boolean> {
    const { stored, retentionMs: retention } = validateCompleteArgs(this.source, scope, key, token, response, opts, this.maxResponseBytes);
    const deadline = deadlineOf(this.source, opts, CALLS.complete);
    const id = this.id(scope, key);
    return (await this.run<number>(SETTLE, [id], [token, 'complete', encodeStoredResponse(stored), retention], deadline)) === 1;
  }

  async release(scope: string, key: string, token: string, opts?: CallOptions): Promise<boolean> {
    validateHolderArgs(this.source, scope, key, token);
    const deadline = deadlineOf(this.source, opts, CALLS.release);
    const id = this.id(scope, key);
    return (await this.run<number>(SETTLE, [id], [token, 'release'], deadline)) === 1;
  }

  async extend(scope: string, key: string, token: string, leaseMs: number, opts?: CallOptions): Promise<boolean> {
    validateHolderArgs(this.source, scope, key, token);
    const lease = validateDuration(this.source, 'leaseMs', leaseMs);
    const deadline = deadlineOf(this.source, opts, CALLS.extend);
    const id = this.id(scope, key);
    return (await this.run<number>(SETTLE, [id], [token, 'extend', lease], deadline)) === 1;
  }
}
