import type { webcrypto } from 'node:crypto';
import type { Clock, JwksCacheStore, Lease, LockStore, StowageError } from '@stowage/core';
import { ErrorSource, validateDuration, validateOptionNames, validateOptions } from '@stowage/core/adapter-kit';
import { createLocalJWKSet, type FlattenedJWSInput, type JSONWebKeySet, type JWK, type JWSHeaderParameters } from 'jose';

const source = new ErrorSource('@stowage/jwks', 'JwksProvider');

type CryptoKey = webcrypto.CryptoKey;

export interface JwksProviderOptions {
  /** The issuer's JWKS URL (`https:`; `http:` only for local development). */
  uri: string;
  /** Where the key set is shared by replicas. */
  cache: JwksCacheStore;
  /** Leases deciding which replica refreshes (and the cluster-wide cooldown of unknown `kid`s). */
  locks: LockStore;
  /** The HTTP client. @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  /** Freshness when the issuer sends no `Cache-Control: max-age`. @default 600000 (10 min) */
  defaultTtlMs?: number;
  /** `max-age` is raised to at least this. @default 60000 */
  minTtlMs?: number;
  /** `max-age` is lowered to at most this. @default 86400000 (24 h) */
  maxTtlMs?: number;
  /** Past freshness, the keys keep serving this long while refreshes fail (issuer down). @default 3600000 (1 h) */
  staleMs?: number;
  /** A token whose `kid` is unknown triggers a refresh at most once per cooldown, across all replicas. @default 30000 */
  cooldownMs?: number;
  /** The longest a fetch of the JWKS may take. @default 5000 */
  timeoutMs?: number;
  /** How long a replica waits for the one that holds the refresh lease. @default 2000 */
  waitMs?: number;
  /**
   * The deadline of every `cache` and `locks` call (core's `CallOptions`): a call gets
   * `Date.now() + storeTimeoutMs`, so a dead store fails a verification within it (stale keys
   * this replica holds keep serving meanwhile), and a call reported failed never takes effect.
   * @default 1000
   */
  storeTimeoutMs?: number;
  /** Told about every failed refresh (issuer down, bad document, store error). @default none */
  onRefreshError?: (error: StowageError) => void;
  /** @default Date.now */
  clock?: Clock;
}

/** Each option of {@link JwksProviderOptions}, once. */
const OPTION_NAMES: Readonly<Record<keyof JwksProviderOptions, true>> = {
  uri: true,
  cache: true,
  locks: true,
  fetch: true,
  defaultTtlMs: true,
  minTtlMs: true,
  maxTtlMs: true,
  staleMs: true,
  cooldownMs: true,
  timeoutMs: true,
  waitMs: true,
  storeTimeoutMs: true,
  onRefreshError: true,
  clock: true,
};

interface Resolved {
  uri: string;
  cache: JwksCacheStore;
  locks: LockStore;
  fetch: typeof globalThis.fetch;
  defaultTtlMs: number;
  minTtlMs: number;
  maxTtlMs: number;
  staleMs: number;
  cooldownMs: number;
  timeoutMs: number;
  /** The refresh lease: longer than a fetch may take. */
  leaseMs: number;
  waitMs: number;
  storeTimeoutMs: number;
  onRefreshError: ((error: StowageError) => void) | undefined;
  clock: Clock;
}

/** A key set as this replica holds it. */
interface KeySet {
  text: string;
  keys: JWK[];
  fetchedAt: number;
  /** Until when it is fresh (no refresh needed). */
  freshUntil: number;
  /** Until when it may serve while refreshes fail (the cached copy's expiry). */
  staleUntil: number;
  verifyKey: ReturnType<typeof createLocalJWKSet>;
}

export interface JwksProvider {
  /** The keys with this `kid` (every key without one). An unknown `kid` may trigger a refresh (see `cooldownMs`). */
  keysFor(kid?: string): Promise<JWK[]>;
  /** A key resolver for `jose.jwtVerify(token, provider.resolver, ...)`. */
  readonly resolver: (protectedHeader: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;
  /** Refreshes now (still one replica at a time). */
  refresh(): Promise<void>;
}

const MAX_DOCUMENT_BYTES = 1024 * 1024;

class Provider implements JwksProvider {
  private current: KeySet | undefined;
  private inflight: Promise<KeySet> | undefined;
  private retryAt = 0;
  private readonly missAt = new Map<string, number>();
  private readonly fetch: typeof globalThis.fetch;
  private readonly clock: Clock;
  private readonly refreshLock: string;
  private readonly missLock: string;

  constructor(private readonly o: Resolved) {
    this.fetch = o.fetch;
    this.clock = o.clock;
    this.refreshLock = `jwks-refresh:${o.uri}`;
    this.missLock = `jwks-kid-miss:${o.uri}`;
  }

  readonly resolver = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    await this.keysFor(header.kid);
    return (await this.current!.verifyKey(header, token)) as CryptoKey;
  };

  async keysFor(kid?: string): Promise<JWK[]> {
    let set = await this.load();
    let keys = kid === undefined ? set.keys : set.keys.filter((k) => k.kid === kid);
    if (keys.length > 0 || kid === undefined) return keys;
    // An unknown kid: the issuer may have rotated. Refresh, at most once per cooldown, cluster-wide.
    const now = this.clock();
    if (now - (this.missAt.get(kid) ?? -Infinity) < this.o.cooldownMs) return keys;
    this.missAt.set(kid, now);
    if (this.missAt.size > 1000) this.missAt.delete(this.missAt.keys().next().value!);
    let gate: Lease | undefined;
    try {
      gate = await this.o.locks.acquire(this.missLock, { ttlMs: this.o.cooldownMs, deadline: this.deadline() });
    } catch (err) {
      this.report(err);
      return keys;
    }
    // The gate is never released: its expiry is the cooldown.
    set = gate !== undefined ? await this.refreshOr(set) : ((await this.fromCache().catch((err: unknown) => void this.report(err))) ?? set);
    keys = set.keys.filter((k) => k.kid === kid);
    return keys;
  }

  async refresh(): Promise<void> {
    await this.refreshShared();
  }

  /** The key set to use now: local if fresh, else the shared cache if fresh, else a refresh (stale as a fallback). */
  private async load(): Promise<KeySet> {
    const now = this.clock();
    if (this.current !== undefined && now < this.current.freshUntil) return this.current;
    let cached: KeySet | undefined;
    try {
      cached = await this.fromCache();
    } catch (err) {
      // The shared cache is down: keep serving what this replica holds, within its stale window.
      this.report(err);
      if (this.current !== undefined && now < this.current.staleUntil) return this.current;
      throw source.error('UNAVAILABLE', `no usable keys for ${this.o.uri}: the cache store failed`, { cause: err });
    }
    if (cached !== undefined && now < cached.freshUntil) return cached;
    const stale = cached ?? this.current;
    if (stale !== undefined && now < this.retryAt && now < stale.staleUntil) return stale;
    return this.refreshOr(stale);
  }

  /** A refresh, or `fallback` while it is within its stale window; else UNAVAILABLE. */
  private async refreshOr(fallback: KeySet | undefined): Promise<KeySet> {
    try {
      return await this.refreshShared();
    } catch (err) {
      const error = this.report(err);
      this.retryAt = this.clock() + Math.min(this.o.cooldownMs, this.o.waitMs);
      if (fallback !== undefined && this.clock() < fallback.staleUntil) return fallback;
      throw source.error('UNAVAILABLE', `no usable keys from ${this.o.uri}: ${error.message}`, { cause: error });
    }
  }

  /** One refresh per process at a time; one per cluster (the lease) — the others read what it stored. */
  private refreshShared(): Promise<KeySet> {
    this.inflight ??= this.refreshOnce().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async refreshOnce(): Promise<KeySet> {
    const before = this.current?.fetchedAt ?? -1;
    const lease = await this.o.locks.acquire(this.refreshLock, { ttlMs: this.o.leaseMs, deadline: this.deadline() });
    if (lease === undefined) {
      // Another replica is refreshing: wait for what it stores.
      const until = this.clock() + this.o.waitMs;
      while (this.clock() < until) {
        await new Promise((r) => setTimeout(r, 50));
        const cached = await this.fromCache();
        if (cached !== undefined && cached.fetchedAt > before && this.clock() < cached.freshUntil) return cached;
      }
      throw source.error(
        'UNAVAILABLE',
        `another replica holds the refresh of ${this.o.uri} and stored nothing new within ${this.o.waitMs} ms`,
      );
    }
    // Another replica may have refreshed between our look at the cache and the lease.
    // A cache that fails here is told to onRefreshError; the refresh goes on without it.
    const meanwhile = await this.fromCache().catch((err: unknown) => void this.report(err));
    if (meanwhile !== undefined && meanwhile.fetchedAt > before && this.clock() < meanwhile.freshUntil) {
      await this.o.locks.release(this.refreshLock, lease.token, { deadline: this.deadline() });
      return meanwhile;
    }
    let downloaded: { text: string; ttlMs: number };
    try {
      downloaded = await this.download();
    } catch (err) {
      // Keep the lease for a cooldown: while the issuer is down, the cluster retries once per cooldown.
      await this.o.locks
        .extend(this.refreshLock, lease.token, this.o.cooldownMs, { deadline: this.deadline() })
        .catch((err: unknown) => void this.report(err));
      throw err;
    }
    const { text, ttlMs } = downloaded;
    const fetchedAt = this.clock();
    await this.o.cache.put(this.o.uri, text, { fetchedAt, ttlMs: ttlMs + this.o.staleMs, deadline: this.deadline() });
    await this.o.locks.release(this.refreshLock, lease.token, { deadline: this.deadline() });
    return this.adopt(text, fetchedAt, fetchedAt + ttlMs, fetchedAt + ttlMs + this.o.staleMs);
  }

  private async download(): Promise<{ text: string; ttlMs: number }> {
    let res: Response;
    try {
      res = await this.fetch(this.o.uri, { signal: AbortSignal.timeout(this.o.timeoutMs), headers: { accept: 'application/json' } });
    } catch (cause) {
      throw source.error('UNAVAILABLE', `fetching ${this.o.uri} failed: ${(cause as Error).message}`, { cause });
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw source.error('UNAVAILABLE', `${this.o.uri} answered ${res.status}`);
    }
    const text = await res.text();
    if (Buffer.byteLength(text) > MAX_DOCUMENT_BYTES) throw source.error('PAYLOAD_TOO_LARGE', `${this.o.uri} sent over 1 MiB`);
    parseKeys(text); // refuse a bad document before sharing it
    return { text, ttlMs: this.ttlOf(res.headers.get('cache-control')) };
  }

  /** Freshness from `Cache-Control: max-age`, within [minTtlMs, maxTtlMs]. */
  private ttlOf(cacheControl: string | null): number {
    if (cacheControl === null) return this.o.defaultTtlMs;
    if (/(?:^|,)\s*(?:no-cache|no-store)\s*(?:,|$)/i.test(cacheControl)) return this.o.minTtlMs;
    const m = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl);
    if (m === null) return this.o.defaultTtlMs;
    return Math.min(this.o.maxTtlMs, Math.max(this.o.minTtlMs, Number(m[1]) * 1000));
  }

  private async fromCache(): Promise<KeySet | undefined> {
    const cached = await this.o.cache.get(this.o.uri, { deadline: this.deadline() });
    if (cached === undefined) return undefined;
    if (this.current !== undefined && this.current.text === cached.jwks && this.current.fetchedAt === cached.fetchedAt) return this.current;
    try {
      return this.adopt(cached.jwks, cached.fetchedAt, cached.expiresAt - this.o.staleMs, cached.expiresAt);
    } catch {
      return undefined; // a bad shared copy: refresh instead
    }
  }

  private adopt(text: string, fetchedAt: number, freshUntil: number, staleUntil: number): KeySet {
    const doc = parseKeys(text);
    const set: KeySet = { text, keys: doc.keys as JWK[], fetchedAt, freshUntil, staleUntil, verifyKey: createLocalJWKSet(doc) };
    if (this.current === undefined || fetchedAt >= this.current.fetchedAt) this.current = set;
    return set;
  }

  /** The deadline of one store call (on this process's clock, whatever `clock` says). */
  private deadline(): number {
    return Date.now() + this.o.storeTimeoutMs;
  }

  private report(err: unknown): StowageError {
    const error = source.wrap(err, 'UNAVAILABLE');
    try {
      this.o.onRefreshError?.(error);
    } catch {
      // a broken hook must not break verification
    }
    return error;
  }
}

function parseKeys(text: string): JSONWebKeySet {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw source.error('CORRUPT', 'the JWKS is not JSON', { cause });
  }
  const keys = (doc as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || !keys.every((k) => k !== null && typeof k === 'object' && typeof (k as JWK).kty === 'string')) {
    throw source.error('CORRUPT', 'the JWKS has no "keys" array of JWKs');
  }
  return doc as JSONWebKeySet;
}

/**
 * A JWKS provider shared by replicas: one replica refreshes for all (a lease), freshness
 * comes from the issuer's `Cache-Control` within bounds, an unknown `kid` refreshes at most
 * once per cooldown, and stale keys keep serving for `staleMs` while the issuer is down.
 */
export function createJwksProvider(options: JwksProviderOptions): JwksProvider {
  const o = validateOptions<JwksProviderOptions>(source, 'options', options);
  validateOptionNames(source, 'options', o, OPTION_NAMES);
  let url: URL;
  try {
    url = new URL(String(o.uri));
  } catch {
    throw source.invalid('options.uri must be an absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw source.invalid('options.uri must be an https: (or http:) URL');
  if (o.cache === undefined || typeof o.cache.get !== 'function') throw source.invalid('options.cache must be a JwksCacheStore');
  if (o.locks === undefined || typeof o.locks.acquire !== 'function') throw source.invalid('options.locks must be a LockStore');
  const ms = (field: keyof JwksProviderOptions, fallback: number): number =>
    o[field] === undefined ? fallback : validateDuration(source, `options.${field}`, o[field]);
  const minTtlMs = ms('minTtlMs', 60_000);
  const maxTtlMs = ms('maxTtlMs', 86_400_000);
  if (minTtlMs > maxTtlMs) throw source.invalid('options.minTtlMs must not exceed options.maxTtlMs');
  return new Provider({
    uri: url.toString(),
    cache: o.cache,
    locks: o.locks,
    fetch: o.fetch ?? globalThis.fetch,
    defaultTtlMs: Math.min(maxTtlMs, Math.max(minTtlMs, ms('defaultTtlMs', 600_000))),
    minTtlMs,
    maxTtlMs,
    staleMs: ms('staleMs', 3_600_000),
    cooldownMs: ms('cooldownMs', 30_000),
    timeoutMs: ms('timeoutMs', 5_000),
    leaseMs: ms('timeoutMs', 5_000) + 5_000, // a fetch, then the store writes
    waitMs: ms('waitMs', 2_000),
    storeTimeoutMs: ms('storeTimeoutMs', 1_000),
    onRefreshError: o.onRefreshError,
    clock: o.clock ?? Date.now,
  });
}
