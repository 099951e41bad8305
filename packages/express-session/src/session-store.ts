import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import {
  jsonCodec,
  StowageError,
  toStoreKey,
  type CallOptions,
  type Codec,
  type HealthResult,
  type Healthy,
  type SessionStore,
} from '@stowage/core';
import {
  ErrorSource,
  repeatInBackground,
  type BackgroundTask,
  validateDuration,
  validateTimerMs,
  validateInteger,
  validateOptionalDuration,
  validateOptionNames,
  validateCodec,
  validateFunction,
  validateOptions,
} from '@stowage/core/adapter-kit';
import { ReadVersions } from './read-versions.js';

export const source = new ErrorSource('@stowage/express-session', 'StowageSessionStore');

/** The session object express-session and @fastify/session hand to a store. */
export interface SessionData {
  cookie?: { expires?: Date | string | null; maxAge?: number | null; originalMaxAge?: number | null } | null;
  [key: string]: unknown;
}

type Callback<T = void> = (err?: any, value?: T) => void;

/**
 * What the store emits as `'conflict'` when a write lost a race: the session changed or was
 * destroyed after this request read it, so its write was dropped (the callback succeeds).
 */
export interface SessionWriteConflict {
  /** The session id. It is a bearer secret: do not log it as is. */
  sid: string;
  /** The version the request read (0: it made a new session). */
  ifVersion: number;
  /** The version stored when the write arrived (0: no session, e.g. it was destroyed). */
  currentVersion: number | undefined;
}

export interface StowageSessionStoreOptions {
  /** Where sessions live: any Stowage `SessionStore` (memory, SQLite, PostgreSQL, Redis). */
  store: SessionStore;
  /**
   * Turns a session into stored bytes and back. Use `encryptedCodec({ keys })` from
   * `@stowage/core` to encrypt sessions at rest. A record that no longer decodes (a retired
   * key) reads as no session. @default jsonCodec
   */
  codec?: Codec;
  /** Idle TTL of sessions whose cookie has no expiry (browser-session cookies). @default 86400000 (1 day) */
  defaultTtlMs?: number;
  /**
   * Skip the write of `touch` when the stored expiry would move by less than this: a
   * busy session is written at most once per `touchAfterMs` instead of on every request.
   * @default 0 (always touch)
   */
  touchAfterMs?: number;
  /** A hard limit from a session's first save; nothing extends it (see `SessionStore.set`). @default none */
  absoluteTtlMs?: number;
  /**
   * The owner of a session (e.g. the user id), recorded so `SessionStore.destroyByOwner` can
   * sign a user out everywhere. @default none
   */
  owner?: (session: SessionData) => string | undefined;
  /**
   * A health probe (e.g. `() => redisHealth(client)`): the store emits `disconnect` when it
   * fails and `connect` when it passes again. express-session then serves requests without
   * `req.session` meanwhile instead of failing them; @fastify/session ignores these events.
   * `false`: no probe, no events.
   * @default the store's `health()` (every Stowage store has one); none for a store without it
   */
  health?: (() => Promise<HealthResult>) | false;
  /** How often `health` runs. @default 5000 */
  healthIntervalMs?: number;
  /**
   * The deadline of every store call: each gets `{ deadline: Date.now() + timeoutMs }`, so a
   * dead or hung backend answers (`TIMEOUT` / `UNAVAILABLE`) within it, and a call reported
   * failed never takes effect later. @default 1000
   */
  timeoutMs?: number;
}

/** Each option of {@link StowageSessionStoreOptions}, once. */
const OPTION_NAMES: Readonly<Record<keyof StowageSessionStoreOptions, true>> = {
  store: true,
  codec: true,
  defaultTtlMs: true,
  touchAfterMs: true,
  absoluteTtlMs: true,
  owner: true,
  health: true,
  healthIntervalMs: true,
  timeoutMs: true,
};

const DAY = 86_400_000;
// Keep what `get`/`set` saw for this many sessions (for touchAfterMs); oldest dropped first.
const MAX_REMEMBERED = 10_000;

// express-session's `Store` adds `regenerate`, `load` and `createSession`, which express-session
// needs; @fastify/session needs none of them. Extend it when it is installed.
const require = createRequire(import.meta.url);
const Base: typeof EventEmitter = (() => {
  try {
    return (require('express-session') as { Store: typeof EventEmitter }).Store;
  } catch {
    return EventEmitter;
  }
})();

/** What express-session's `Store` adds (present when express-session is installed). */
// Typed loosely (`any`), as express-session's own declarations are, so that the store fits
// `session({ store })` whatever the app declared in its SessionData.
export interface StowageSessionStore {
  regenerate(req: any, callback: (err?: any) => any): void;
  load(sid: string, callback: (err: any, session?: any) => any): void;
}

const baseCreateSession = (Base.prototype as { createSession?: (req: any, session: any) => any }).createSession;

/**
 * A store for express-session and @fastify/session over any Stowage `SessionStore`.
 * The TTL of each write comes from the session cookie's expiry.
 *
 * Any string is a session id: each goes to the store through core's `toStoreKey`, so an id
 * the store cannot take as a key (a signed cookie carrying 2000 bytes, U+0000, a lone
 * surrogate) is hashed, never refused: it is simply a session that does not exist (yet).
 * The codec still sees the id as the framework gave it.
 *
 * Each write is a compare-and-swap on the version the request read (`ifVersion`; 0 for a
 * new session): a write that lost a race (the session was changed or destroyed meanwhile,
 * say by a logout) is dropped, its callback succeeds, and the store emits `'conflict'` with
 * a {@link SessionWriteConflict}. A listener that throws fails that request instead.
 */
// The interface above names what express-session's Store gives the class at run time.
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: see the line above
export class StowageSessionStore extends Base {
  private readonly store: SessionStore;
  private readonly codec: Codec;
  private readonly defaultTtlMs: number;
  private readonly touchAfterMs: number;
  private readonly absoluteTtlMs: number | undefined;
  private readonly ownerOf: ((session: SessionData) => string | undefined) | undefined;
  private readonly timeoutMs: number;
  private readonly versions = new ReadVersions();
  private readonly expiries = new Map<string, number>();
  private readonly healthTimer: BackgroundTask | undefined;
  private connected = true;

  constructor(options: StowageSessionStoreOptions) {
    super();
    const o = validateOptions<StowageSessionStoreOptions>(source, 'options', options);
    validateOptionNames(source, 'options', o, OPTION_NAMES);
    if (o.store === undefined || typeof o.store.get !== 'function') throw source.invalid('options.store must be a SessionStore');
    this.store = o.store;
    this.codec = validateCodec(source, 'options.codec', o.codec) ?? jsonCodec;
    this.defaultTtlMs = o.defaultTtlMs === undefined ? DAY : validateDuration(source, 'options.defaultTtlMs', o.defaultTtlMs);
    this.touchAfterMs = o.touchAfterMs === undefined ? 0 : validateInteger(source, 'options.touchAfterMs', o.touchAfterMs, 0);
    this.absoluteTtlMs = validateOptionalDuration(source, 'options.absoluteTtlMs', o.absoluteTtlMs);
    this.ownerOf = validateFunction(source, 'options.owner', o.owner);
    this.timeoutMs = o.timeoutMs === undefined ? 1000 : validateTimerMs(source, 'options.timeoutMs', o.timeoutMs);
    const probe = healthOf(o.health, o.store);
    if (probe !== undefined) {
      const every = o.healthIntervalMs === undefined ? 5000 : validateTimerMs(source, 'options.healthIntervalMs', o.healthIntervalMs);
      // A probe that fails is the state it reports (disconnected), not an error to log.
      const probeOnce = () =>
        probe().then(
          (h) => this.setConnected(h.ok),
          () => this.setConnected(false),
        );
      this.healthTimer = repeatInBackground(probeOnce, every, () => {}, 'health');
    }
  }

  get(sid: string, callback: (err: any, session?: any) => void): void {
    this.store.get(toStoreKey(sid), this.callOptions()).then(
      (record) => {
        if (record === undefined) {
          this.expiries.delete(sid);
          return settle(callback, null, null);
        }
        let session: SessionData;
        try {
          session = this.codec.decode(record.data, sid) as SessionData;
        } catch (err) {
          // A record that no longer decodes (say, its key was retired) is no session.
          return StowageError.is(err, 'CORRUPT') ? settle(callback, null, null) : settle(callback, err);
        }
        if (session !== null && typeof session === 'object') this.versions.attach(session, record.version);
        this.remember(sid, record.expiresAt);
        settle(callback, null, session);
      },
      (err: unknown) => settle(callback, err),
    );
  }

  /**
   * Writes `session` if it is still the version this request read. A session that was not
   * loaded through `get` (a new one, or any object this store did not hand out) is written
   * only if the id is free. A lost race is no error: nothing is written, `'conflict'` is
   * emitted.
   */
  set(sid: string, session: any, callback: Callback = noop): void {
    const ttlMs = this.ttlOf(session);
    if (ttlMs <= 0) {
      this.destroy(sid, callback);
      return;
    }
    const read = session !== null && typeof session === 'object' ? this.versions.of(session) : undefined;
    const ifVersion = read?.version ?? 0;
    let data: Uint8Array;
    let owner: string | undefined;
    try {
      data = this.codec.encode(session, sid);
      owner = this.ownerOf?.(session as SessionData);
    } catch (err) {
      settle(callback, err);
      return;
    }
    this.store
      .set(toStoreKey(sid), data, {
        ttlMs,
        ifVersion,
        ...(this.absoluteTtlMs === undefined ? {} : { absoluteTtlMs: this.absoluteTtlMs }),
        ...(owner === undefined ? {} : { owner }),
        ...this.callOptions(),
      })
      .then(
        ({ version }) => {
          this.versions.wrote(session, read, version);
          this.remember(sid, Date.now() + ttlMs);
          settle(callback, null);
        },
        (err: unknown) => {
          if (!StowageError.is(err, 'CONFLICT')) return settle(callback, err);
          const current = err.details?.['currentVersion'];
          settle(callback, this.reportConflict({ sid, ifVersion, currentVersion: typeof current === 'number' ? current : undefined }));
        },
      );
  }

  /**
   * Extends the idle expiry; skipped when it would move by less than `touchAfterMs`. Never
   * recreates a session that is gone (the store's `touch` answers false).
   */
  touch(sid: string, session: any, callback: Callback = noop): void {
    const ttlMs = this.ttlOf(session);
    if (ttlMs <= 0) {
      settle(callback, null);
      return;
    }
    const known = this.expiries.get(sid);
    if (this.touchAfterMs > 0 && known !== undefined && Date.now() + ttlMs - known < this.touchAfterMs) {
      settle(callback, null);
      return;
    }
    this.store.touch(toStoreKey(sid), ttlMs, this.callOptions()).then(
      (alive) => {
        if (alive) this.remember(sid, Date.now() + ttlMs);
        settle(callback, null);
      },
      (err: unknown) => settle(callback, err),
    );
  }

  destroy(sid: string, callback: Callback = noop): void {
    this.expiries.delete(sid);
    this.store.destroy(toStoreKey(sid), this.callOptions()).then(
      () => settle(callback, null),
      (err: unknown) => settle(callback, err),
    );
  }

  /**
   * express-session builds the request's Session from what `get` returned: the Session
   * carries the version that was read.
   */
  createSession(req: any, data: any): any {
    if (baseCreateSession === undefined) throw source.error('INTERNAL', 'createSession needs express-session, which is not installed');
    const session = baseCreateSession.call(this, req, data);
    if (data !== null && typeof data === 'object' && session !== null && typeof session === 'object') this.versions.follow(data, session);
    return session;
  }

  /** Stops the health probe; resolves once the probe in flight, if any, has ended. The `SessionStore` is the caller's to close. */
  close(): Promise<void> {
    return this.healthTimer?.stop() ?? Promise.resolve();
  }

  /** One deadline per store call, so no call outlasts `timeoutMs`. */
  private callOptions(): CallOptions {
    return { deadline: Date.now() + this.timeoutMs };
  }

  /** Emits `'conflict'`; a listener's exception is returned, to fail the request instead of the process. */
  private reportConflict(conflict: SessionWriteConflict): unknown {
    try {
      this.emit('conflict', conflict);
      return null;
    } catch (err) {
      return err;
    }
  }

  /** ms until the session's cookie expires; the default TTL for browser-session cookies. */
  private ttlOf(session: SessionData | undefined): number {
    if (session === null || typeof session !== 'object') return this.defaultTtlMs;
    const expires = session.cookie?.expires;
    if (expires !== undefined && expires !== null) {
      const at = expires instanceof Date ? expires.getTime() : Date.parse(expires);
      if (Number.isFinite(at)) return Math.min(Math.ceil(at - Date.now()), 315_576_000_000);
    }
    return this.defaultTtlMs;
  }

  private remember(sid: string, expiresAt: number): void {
    if (this.touchAfterMs === 0) return;
    this.expiries.delete(sid);
    this.expiries.set(sid, expiresAt);
    if (this.expiries.size > MAX_REMEMBERED) this.expiries.delete(this.expiries.keys().next().value!);
  }

  private setConnected(ok: boolean): void {
    if (ok === this.connected) return;
    this.connected = ok;
    this.emit(ok ? 'connect' : 'disconnect');
  }
}

const noop = (): void => {};

/** Calls back outside the promise chain, so an exception in the callback is not swallowed. */
function settle<T>(callback: Callback<T>, err: unknown, value?: T): void {
  process.nextTick(() => (err === null || err === undefined ? callback(null, value) : callback(err)));
}

/** The `health` option, checked; by default the store's own `health()` (it knows its backend). */
function healthOf(option: StowageSessionStoreOptions['health'], store: SessionStore): (() => Promise<HealthResult>) | undefined {
  if (option === false) return undefined;
  if (option !== undefined) {
    if (typeof option !== 'function') throw source.invalid('options.health must be a function or false');
    return option;
  }
  const own = (store as Partial<Healthy>).health;
  return typeof own === 'function' ? () => own.call(store) : undefined;
}
