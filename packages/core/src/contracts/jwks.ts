import type { CallOptions, Closeable, Prunable } from './common.js';

export interface CachedJwks {
  /** The JWKS document as fetched (a JSON string). */
  jwks: string;
  /** When the fetching replica fetched it (epoch ms, its clock). */
  fetchedAt: number;
  /** When the cached copy expires, epoch ms on the store's clock. */
  expiresAt: number;
}

/**
 * A shared cache of JSON Web Key Sets, so one replica refreshes a key set for all (with
 * a `LockStore` lease deciding which).
 *
 * `jwks` is at most the store's `maxDocumentBytes` (default 1 MiB), else `PAYLOAD_TOO_LARGE`.
 * Both methods take the caller's deadline ({@link CallOptions}).
 */
export interface JwksCacheStore extends Closeable, Prunable {
  /** The live cached document for `uri`, or `undefined`. */
  get(uri: string, opts?: CallOptions): Promise<CachedJwks | undefined>;

  /**
   * Caches `jwks` for `ttlMs` (from now on the store's clock). Never replaces a live
   * document fetched later than the one offered: returns false and changes nothing.
   * An equal `fetchedAt` replaces.
   */
  put(uri: string, jwks: string, opts: { fetchedAt: number; ttlMs: number } & CallOptions): Promise<boolean>;

  /** {@link Prunable.prune}: one record is one expired document (one `uri`). */
  prune(): Promise<number>;
}
