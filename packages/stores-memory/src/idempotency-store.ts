import type { CallOptions, IdempotencyStore, Reservation, StoredResponse } from '@stowage/core';
import {
  STORE_CALLS,
  copyBytes,
  randomToken,
  validateCompleteArgs,
  validateDuration,
  validateHolderArgs,
  validateReserveArgs,
  sizeLimit,
  type IdempotencySizeOptions,
  type OwnOptionNames,
} from '@stowage/core/adapter-kit';
import { MemoryStoreBase, type MemoryStoreOptions } from './base.js';
import { ExpiringMap } from './expiring-map.js';

const CALLS = STORE_CALLS.idempotency;

export interface MemoryIdempotencyStoreOptions extends MemoryStoreOptions, IdempotencySizeOptions {}

interface Entry {
  fingerprint: string;
  /** The lease holder's token while in flight; `undefined` once completed. */
  token: string | undefined;
  response: StoredResponse | undefined;
  /** End of the lease, or of the retention once completed. */
  expiresAt: number;
}

/** This store's options beyond the backend's. */
const OWN_OPTIONS: OwnOptionNames<MemoryIdempotencyStoreOptions, MemoryStoreOptions> = { maxResponseBytes: true };

/** {@link IdempotencyStore} in process memory. */
export class MemoryIdempotencyStore extends MemoryStoreBase implements IdempotencyStore {
  private readonly entries: ExpiringMap<string, Entry>;
  private readonly maxResponseBytes: number;

  constructor(options: MemoryIdempotencyStoreOptions = {}) {
    super('MemoryIdempotencyStore', options, OWN_OPTIONS);
    this.maxResponseBytes = sizeLimit(this.source, options, 'maxResponseBytes');
    this.entries = new ExpiringMap<string, Entry>({ maxEntries: this.maxEntries });
    this.instrument('idempotency');
  }

  // Keys hold no U+0000, so scope NUL key is unambiguous.
  private id(scope: string, key: string): string {
    return `${scope}\u0000${key}`;
  }

  async reserve(scope: string, key: string, fingerprint: string, opts: { leaseMs: number } & CallOptions): Promise<Reservation> {
    const leaseMs = validateReserveArgs(this.source, scope, key, fingerprint, opts);
    const now = this.begin(opts, CALLS.reserve);
    const id = this.id(scope, key);
    const e = this.entries.get(id, now);
    if (e === undefined) {
      const token = randomToken();
      this.entries.set(id, { fingerprint, token, response: undefined, expiresAt: now + leaseMs });
      return { state: 'reserved', token };
    }
    if (e.fingerprint !== fingerprint) return { state: 'mismatch' };
    if (e.response !== undefined) return { state: 'completed', response: copyResponse(e.response) };
    return { state: 'in-flight', retryAfterMs: e.expiresAt - now };
  }

  /** The live in-flight entry held by `token`, or undefined. */
  private held(id: string, token: string, now: number): Entry | undefined {
    const e = this.entries.get(id, now);
    return e !== undefined && e.token !== undefined && e.token === token ? e : undefined;
  }

  async complete(
    scope: string,
    key: string,
    token: string,
    response: StoredResponse,
    opts: { retentionMs: number } & CallOptions,
  ): Promise<boolean> {
    const { stored, retentionMs } = validateCompleteArgs(this.source, scope, key, token, response, opts, this.maxResponseBytes);
    const now = this.begin(opts, CALLS.complete);
    const id = this.id(scope, key);
    const e = this.held(id, token, now);
    if (e === undefined) return false;
    e.token = undefined;
    e.response = stored;
    e.expiresAt = now + retentionMs;
    this.entries.retime(id, e);
    return true;
  }

  async release(scope: string, key: string, token: string, opts?: CallOptions): Promise<boolean> {
    validateHolderArgs(this.source, scope, key, token);
    const now = this.begin(opts, CALLS.release);
    const id = this.id(scope, key);
    if (this.held(id, token, now) === undefined) return false;
    this.entries.delete(id);
    return true;
  }

  async extend(scope: string, key: string, token: string, leaseMs: number, opts?: CallOptions): Promise<boolean> {
    validateHolderArgs(this.source, scope, key, token);
    validateDuration(this.source, 'leaseMs', leaseMs);
    const now = this.begin(opts, CALLS.extend);
    const id = this.id(scope, key);
    const e = this.held(id, token, now);
    if (e === undefined) return false;
    e.expiresAt = now + leaseMs;
    this.entries.retime(id, e);
    return true;
  }

  protected sweep(now: number): number {
    return this.entries.sweep(now);
  }

  protected override onClose(): void {
    this.entries.clear();
  }
}

function copyResponse(r: StoredResponse): StoredResponse {
  return { status: r.status, headers: r.headers.map(([n, v]) => [n, v]), body: copyBytes(r.body) };
}
