import type { CachedJwks, CallOptions, JwksCacheStore } from '@stowage/core';
import { STORE_CALLS, validateJwksPutArgs, validateKey, sizeLimit, type JwksSizeOptions } from '@stowage/core/adapter-kit';
import type { OwnOptionNames } from '@stowage/core/adapter-kit';
import { MemoryStoreBase, type MemoryStoreOptions } from './base.js';
import { ExpiringMap } from './expiring-map.js';

const CALLS = STORE_CALLS.jwks;

export interface MemoryJwksCacheStoreOptions extends MemoryStoreOptions, JwksSizeOptions {}

/** This store's options beyond the backend's. */
const OWN_OPTIONS: OwnOptionNames<MemoryJwksCacheStoreOptions, MemoryStoreOptions> = { maxDocumentBytes: true };

/** {@link JwksCacheStore} in process memory. */
export class MemoryJwksCacheStore extends MemoryStoreBase implements JwksCacheStore {
  private readonly docs: ExpiringMap<string, CachedJwks>;
  private readonly maxDocumentBytes: number;

  constructor(options: MemoryJwksCacheStoreOptions = {}) {
    super('MemoryJwksCacheStore', options, OWN_OPTIONS);
    this.maxDocumentBytes = sizeLimit(this.source, options, 'maxDocumentBytes');
    this.docs = new ExpiringMap<string, CachedJwks>({ maxEntries: this.maxEntries });
    this.instrument('jwks');
  }

  async get(uri: string, opts?: CallOptions): Promise<CachedJwks | undefined> {
    validateKey(this.source, 'uri', uri);
    const now = this.begin(opts, CALLS.get);
    const d = this.docs.get(uri, now);
    return d === undefined ? undefined : { jwks: d.jwks, fetchedAt: d.fetchedAt, expiresAt: d.expiresAt };
  }

  async put(uri: string, jwks: string, opts: { fetchedAt: number; ttlMs: number } & CallOptions): Promise<boolean> {
    const { fetchedAt, ttlMs } = validateJwksPutArgs(this.source, uri, jwks, opts, this.maxDocumentBytes);
    const now = this.begin(opts, CALLS.put);
    const current = this.docs.get(uri, now);
    if (current !== undefined && current.fetchedAt > fetchedAt) return false;
    this.docs.set(uri, { jwks, fetchedAt, expiresAt: now + ttlMs });
    return true;
  }

  protected sweep(now: number): number {
    return this.docs.sweep(now);
  }

  protected override onClose(): void {
    this.docs.clear();
  }
}
