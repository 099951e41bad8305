import type { CachedJwks, CallOptions, JwksCacheStore } from '@stowage/core';
import { STORE_CALLS, deadlineOf, validateJwksPutArgs, validateKey, sizeLimit, type JwksSizeOptions } from '@stowage/core/adapter-kit';
import type { OwnOptionNames } from '@stowage/core/adapter-kit';
import { RedisStoreBase, Script, tagged, type RedisStoreOptions } from './base.js';

const CALLS = STORE_CALLS.jwks;

export interface RedisJwksCacheStoreOptions extends RedisStoreOptions, JwksSizeOptions {}

const JWKS = new Script('jwks');

/** This store's options beyond the backend's. */
const OWN_OPTIONS: OwnOptionNames<RedisJwksCacheStoreOptions, RedisStoreOptions> = { maxDocumentBytes: true };

/** {@link JwksCacheStore} on Redis: one hash per URI, expired by Redis, one script per call. */
export class RedisJwksCacheStore extends RedisStoreBase implements JwksCacheStore {
  private readonly maxDocumentBytes: number;

  constructor(options: RedisJwksCacheStoreOptions) {
    super('RedisJwksCacheStore', options, OWN_OPTIONS);
    this.maxDocumentBytes = sizeLimit(this.source, options, 'maxDocumentBytes');
    this.instrument('jwks');
  }

  async get(uri: string, opts?: CallOptions): Promise<CachedJwks | undefined> {
    validateKey(this.source, 'uri', uri);
    const deadline = deadlineOf(this.source, opts, CALLS.get);
    const r = await this.run<[string, string, string] | null>(JWKS, [tagged(this.prefix, 'j', uri)], ['get', '', 0, 0], deadline);
    return r === null ? undefined : { jwks: r[0], fetchedAt: Number(r[1]), expiresAt: Number(r[2]) };
  }

  async put(uri: string, jwks: string, opts: { fetchedAt: number; ttlMs: number } & CallOptions): Promise<boolean> {
    const { fetchedAt, ttlMs: ttl } = validateJwksPutArgs(this.source, uri, jwks, opts, this.maxDocumentBytes);
    const deadline = deadlineOf(this.source, opts, CALLS.put);
    return (await this.run<number>(JWKS, [tagged(this.prefix, 'j', uri)], ['put', jwks, fetchedAt, ttl], deadline)) === 1;
  }
}
