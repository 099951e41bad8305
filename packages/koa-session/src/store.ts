import { EventEmitter } from 'node:events';
import { jsonCodec, MAX_DURATION_MS, StowageError, toStoreKey, type CallOptions, type Codec, type SessionStore } from '@stowage/core';
import {
  ErrorSource,
  validateDuration,
  validateTimerMs,
  validateOptionalDuration,
  validateOptionNames,
  validateCodec,
  validateFunction,
  validateOptions,
} from '@stowage/core/adapter-kit';
import { contentOf, Reads } from './reads.js';

const source = new ErrorSource('@stowage/koa-session', 'StowageKoaSessionStore');

/**
 * A session as koa-session hands it to the store and takes it back: the app's fields, plus
 * koa-session's own `_expire` (when the cookie expires, epoch ms) and `_maxAge`, or
 * `_session: true` for a browser-session cookie (`maxAge: 'session'`).
 */
export interface KoaSessionData {
  _expire?: number;
  _maxAge?: number;
  _session?: boolean;
  [field: string]: unknown;
}

/** The last argument of koa-session's store calls: the request's Koa context, and its options. */
export interface KoaStoreCallOptions {
  /** The request's Koa context: what ties a save to the read of the same request. */
  ctx?: unknown;
  rolling?: boolean;
  changed?: boolean;
}

/**
 * What the store emits as `'conflict'` when a save lost a race: the session changed or was
 * destroyed after this request read it, so its write was dropped (the save still succeeds).
 */
export interface KoaSessionConflict {
  /** The session's external key (the cookie value). It is a bearer secret: do not log it as is. */
  key: string;
  /** The version the request read (0: it made a new session). */
  ifVersion: number;
  /** The version stored when the write arrived (0: no session, e.g. it was destroyed). */
  currentVersion: number | undefined;
}

export interface StowageKoaSessionStoreOptions {
  /** Where sessions live: any Stowage `SessionStore` (memory, SQLite, PostgreSQL, Redis). */
  store: SessionStore;
  /**
   * Turns a session into stored bytes and back. Use `encryptedCodec({ keys })` from
   * `@stowage/core` to encrypt sessions at rest. A record that no longer decodes (a retired
   * key) reads as no session. @default jsonCodec
   */
  codec?: Codec;
  /**
   * Idle TTL of browser-session cookies (`maxAge: 'session'`), which carry no expiry the
   * server could follow: the record lives this long after its last save (with `rolling`,
   * after the last request). @default 86400000 (1 day, koa-session's own default maxAge)
   */
  defaultTtlMs?: number;
  /** A hard limit from a session's first save; nothing extends it (see `SessionStore.set`). @default none */
  absoluteTtlMs?: number;
  /**
   * The owner of a session (e.g. the user id), recorded so `SessionStore.destroyByOwner` can
   * sign a user out everywhere. @default none
   */
  owner?: (session: KoaSessionData) => string | undefined;
  /**
   * The deadline of every store call: each gets `{ deadline: Date.now() + timeoutMs }`, so a
   * dead or hung backend answers (`TIMEOUT` / `UNAVAILABLE`) within it, and a call reported
   * failed never takes effect later. @default 1000
   */
  timeoutMs?: number;
}

/** Each option of {@link StowageKoaSessionStoreOptions}, once. */
const OPTION_NAMES: Readonly<Record<keyof StowageKoaSessionStoreOptions, true>> = {
  store: true,
  codec: true,
  defaultTtlMs: true,
  absoluteTtlMs: true,
  owner: true,
  timeoutMs: true,
};

const DAY = 86_400_000;
/**
 * koa-session asks the store to keep a session 10 s past its cookie (`maxAge + 10000`), so
 * the cookie's expiry is the record's idle expiry less this.
 */
const STORE_MARGIN_MS = 10_000;

/**
 * An external store for koa-session (`session({ store }, app)`) over any Stowage
 * `SessionStore`. The TTL of each write is the `maxAge` koa-session passes (the cookie's
 * plus its 10 s margin); browser-session cookies get `defaultTtlMs`.
 *
 * Any string is a session key: each goes to the store through core's `toStoreKey`, so a key
 * the store cannot take as it is (2000 bytes from a custom `externalKey`, U+0000, a lone
 * surrogate) is hashed, never refused. The codec still sees the key as koa-session gave it.
 *
 * A save whose content differs from what its request read is a compare-and-swap on the
 * version read (`ifVersion`; 0 for a new session): one that lost a race (the session changed
 * or was destroyed meanwhile, say by a logout) is dropped, the save succeeds, and the store
 * emits `'conflict'` with a {@link KoaSessionConflict}; a listener that throws fails that
 * request instead. A save of the content it read (`rolling`, `renew`, an explicit save of an
 * unchanged session) only moves the expiry (`SessionStore.touch`): it never drops a
 * concurrent change, and never recreates a destroyed session.
 */
export class StowageKoaSessionStore extends EventEmitter {
  private readonly store: SessionStore;
  private readonly codec: Codec;
  private readonly defaultTtlMs: number;
  private readonly absoluteTtlMs: number | undefined;
  private readonly ownerOf: ((session: KoaSessionData) => string | undefined) | undefined;
  private readonly timeoutMs: number;
  private readonly reads = new Reads();

  constructor(options: StowageKoaSessionStoreOptions) {
    super();
    const o = validateOptions<StowageKoaSessionStoreOptions>(source, 'options', options);
    validateOptionNames(source, 'options', o, OPTION_NAMES);
    if (o.store === undefined || typeof o.store.get !== 'function') throw source.invalid('options.store must be a SessionStore');
    this.store = o.store;
    this.codec = validateCodec(source, 'options.codec', o.codec) ?? jsonCodec;
    this.defaultTtlMs = o.defaultTtlMs === undefined ? DAY : validateDuration(source, 'options.defaultTtlMs', o.defaultTtlMs);
    this.absoluteTtlMs = validateOptionalDuration(source, 'options.absoluteTtlMs', o.absoluteTtlMs);
    this.ownerOf = validateFunction(source, 'options.owner', o.owner);
    this.timeoutMs = o.timeoutMs === undefined ? 1000 : validateTimerMs(source, 'options.timeoutMs', o.timeoutMs);
  }

  /**
   * The session stored under `key`, or `undefined` (missing, expired, or no longer decoding).
   * Its `_expire` follows the record: a session whose expiry a refresh moved reads as
   * expiring then, so koa-session's own expiry check and `renew` see the truth.
   */
  async get(key: string, _maxAge?: number | 'session', options?: KoaStoreCallOptions): Promise<KoaSessionData | undefined> {
    const ctx = options?.ctx;
    const record = await this.store.get(toStoreKey(key), this.callOptions());
    let session: unknown;
    try {
      session = record === undefined ? undefined : this.codec.decode(record.data, key);
    } catch (err) {
      // A record that no longer decodes (say, its key was retired) is no session.
      if (!StowageError.is(err, 'CORRUPT')) throw err;
    }
    if (record === undefined || session === null || typeof session !== 'object' || Array.isArray(session)) {
      this.reads.drop(ctx, key);
      return undefined;
    }
    const data = session as KoaSessionData;
    this.reads.hold(ctx, key, record.version, contentOf(data));
    if (typeof data._expire === 'number') data._expire = Math.max(data._expire, record.expiresAt - STORE_MARGIN_MS);
    return data;
  }

  /**
   * Saves `session` for `maxAge` ms (`'session'`: `defaultTtlMs`; 0 or less destroys it).
   * Content this request read only moves the expiry; other content is written if the session
   * is still at the version this request read (a session it did not read: only if `key` is
   * free). A lost race is no error: nothing is written, `'conflict'` is emitted.
   */
  async set(key: string, session: KoaSessionData, maxAge?: number | 'session', options?: KoaStoreCallOptions): Promise<void> {
    const ctx = options?.ctx;
    if (session === null || typeof session !== 'object') throw source.invalid('session must be an object');
    const ttlMs = this.ttlOf(maxAge);
    if (ttlMs <= 0) return this.destroy(key, options);
    const id = toStoreKey(key);
    const read = this.reads.of(ctx, key);
    const content = contentOf(session);
    if (read !== undefined && content !== undefined && content === read.content) {
      // False when the session is gone: then nothing is recreated, and the request keeps its
      // read version, so a later save of a change in it is dropped as a lost race.
      await this.store.touch(id, ttlMs, this.callOptions());
      return;
    }
    const data = this.codec.encode(session, key);
    const owner = this.ownerOf?.(session);
    const ifVersion = read?.version ?? 0;
    try {
      const { version } = await this.store.set(id, data, {
        ttlMs,
        ifVersion,
        ...(this.absoluteTtlMs === undefined ? {} : { absoluteTtlMs: this.absoluteTtlMs }),
        ...(owner === undefined ? {} : { owner }),
        ...this.callOptions(),
      });
      this.reads.hold(ctx, key, version, content);
    } catch (err) {
      if (!StowageError.is(err, 'CONFLICT')) throw err;
      const current = err.details?.['currentVersion'];
      const conflict: KoaSessionConflict = { key, ifVersion, currentVersion: typeof current === 'number' ? current : undefined };
      this.emit('conflict', conflict);
    }
  }

  /** Deletes the session under `key` (logout, `regenerate`, `ctx.session = null`). */
  async destroy(key: string, options?: KoaStoreCallOptions): Promise<void> {
    this.reads.drop(options?.ctx, key);
    await this.store.destroy(toStoreKey(key), this.callOptions());
  }

  /** One deadline per store call, so no call outlasts `timeoutMs`. */
  private callOptions(): CallOptions {
    return { deadline: Date.now() + this.timeoutMs };
  }

  /** The record's idle TTL: koa-session's `maxAge` (already past the cookie's), `defaultTtlMs` for browser-session cookies. */
  private ttlOf(maxAge: number | 'session' | undefined): number {
    if (typeof maxAge !== 'number' || Number.isNaN(maxAge)) return this.defaultTtlMs;
    return Math.min(Math.ceil(maxAge), MAX_DURATION_MS);
  }
}
