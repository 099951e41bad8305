import type { CallOptions, Closeable, Prunable } from './common.js';

/** A stored session. */
export interface SessionRecord {
  /**
   * The session payload as stored (encode it with a codec from this package): the caller's own
   * copy. Like any small Node `Buffer`, it may be a view of Node's shared buffer pool: read
   * `data` itself (its `byteOffset` and `byteLength` into `data.buffer`), never the whole
   * `data.buffer`, which may hold other bytes of this process.
   */
  data: Uint8Array;
  /** 1 after the insert, +1 after each `set`. `touch` and `rotate` keep it. */
  version: number;
  /** Idle expiry, epoch ms on the store's clock. Never later than `absoluteExpiresAt`. */
  expiresAt: number;
  /** Hard expiry fixed when the session was inserted with `absoluteTtlMs`; nothing moves it. */
  absoluteExpiresAt?: number;
  /** Who the session belongs to, for {@link SessionStore.destroyByOwner}. */
  owner?: string;
}

export interface SessionSetOptions extends CallOptions {
  /** Idle time-to-live: `expiresAt = now + ttlMs`, capped by the absolute expiry. */
  ttlMs: number;
  /**
   * Compare-and-swap: write only if the current version equals this (0: the id must not
   * exist, or be expired). Otherwise `CONFLICT` with `details.currentVersion`, nothing changes.
   */
  ifVersion?: number;
  /**
   * Fixes `absoluteExpiresAt = now + absoluteTtlMs` when the set inserts the session.
   * Ignored when the session exists: an absolute expiry never moves.
   */
  absoluteTtlMs?: number;
  /**
   * The owner to record. When omitted on an update, the existing owner is kept;
   * owners are never cleared by a `set`.
   */
  owner?: string;
}

/**
 * Server-side sessions shared by replicas.
 *
 * Every method takes the caller's deadline ({@link CallOptions}).
 *
 * Size limit: `data` is at most the store's `maxDataBytes` (default 1 MiB), else
 * `PAYLOAD_TOO_LARGE`.
 */
export interface SessionStore extends Closeable, Prunable {
  /** The live session, or `undefined` when missing, idle-expired or past its absolute expiry. */
  get(id: string, opts?: CallOptions): Promise<SessionRecord | undefined>;

  /**
   * Inserts (version 1) or replaces (version + 1) a session. An expired session counts as
   * missing: the write is an insert. See {@link SessionSetOptions} for `ifVersion`,
   * `absoluteTtlMs` and `owner`.
   */
  set(id: string, data: Uint8Array, opts: SessionSetOptions): Promise<{ version: number }>;

  /**
   * Extends idle expiry to `now + ttlMs` (capped by the absolute expiry). Never rewrites
   * data or version. Returns false if the session is missing or expired.
   */
  touch(id: string, ttlMs: number, opts?: CallOptions): Promise<boolean>;

  /** Deletes a session. Returns true if a live session was deleted. */
  destroy(id: string, opts?: CallOptions): Promise<boolean>;

  /**
   * Session-fixation defence: atomically moves the record (data, version, owner, absolute
   * expiry) from `oldId` to `newId`; `oldId` is gone in the same step. With `ttlMs` the idle
   * expiry restarts from now (capped), otherwise it is kept. Returns false if `oldId` is
   * missing or expired; `CONFLICT` if a live `newId` exists; `INVALID_ARGUMENT` if the ids
   * are equal.
   */
  rotate(oldId: string, newId: string, opts?: { ttlMs?: number } & CallOptions): Promise<boolean>;

  /**
   * "Sign out everywhere": deletes every live session of `owner` except `except`, and
   * returns how many were deleted.
   */
  destroyByOwner(owner: string, opts?: { except?: string } & CallOptions): Promise<number>;

  /** {@link Prunable.prune}: one record is one expired session (its owner index entry goes with it). */
  prune(): Promise<number>;
}
