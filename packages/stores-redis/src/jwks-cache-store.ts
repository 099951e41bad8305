import {
  validateDuration,
  validateInteger,
  validateKey,
  validateOptions,
  validateString,
  validateTimestamp,
  type CachedJwks,
  type JwksCacheStore,
} from '@stowage/core';
import { RedisStoreBase, Script, tagged, type RedisStoreOptions } from './base.js';

export interface RedisJwksCacheStoreOptions extends RedisStoreOptions {
  /** Largest document accepted, in UTF-8 bytes. @default 1048576 (1 MiB) */
  maxDocumentBytes?: number;
}

const JWKS = new Script('jwks');

/** {@link JwksCacheStore} on Redis: one hash per URI, expired by Redis, one script per call. */
export class RedisJwksCacheStore extends RedisStoreBase implements JwksCacheStore {
  private readonly maxDocumentBytes: number;

  constructor(options: RedisJwksCacheStoreOptions) {
    super('RedisJwksCacheStore', options);
    this.maxDocumentBytes =
      options.maxDocumentBytes === undefined
        ? 1024 * 1024
        : validateInteger(this.source, 'options.maxDocumentBytes', options.maxDocumentBytes, 0);
  }

  async get(uri: string): Promise<CachedJwks | undefined> {
    validateKey(this.source, 'uri', uri);
    const r = await this.run<[string, string, string] | null>(JWKS, [tagged(this.prefix, 'j', uri)], ['get', '', 0, 0]);
    return r === null ? undefined : { jwks: r[0], fetchedAt: Number(r[1]), expiresAt: Number(r[2]) };
  }

  async put(uri: string, jwks: string, opts: { fetchedAt: number; ttlMs: number }): Promise<boolean> {
    validateKey(this.source, 'uri', uri);
    validateString(this.source, 'jwks', jwks, this.maxDocumentBytes);
    const o = validateOptions<{ fetchedAt: number; ttlMs: number }>(this.source, 'opts', opts);
    const fetchedAt = validateTimestamp(this.source, 'opts.fetchedAt', o.fetchedAt);
    const ttl = validateDuration(this.source, 'opts.ttlMs', o.ttlMs);
    return (await this.run<number>(JWKS, [tagged(this.prefix, 'j', uri)], ['put', jwks, fetchedAt, ttl])) === 1;
  }
}
