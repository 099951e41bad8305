import type { CallOptions, SessionRecord, SessionSetOptions, SessionStore } from '@stowage/core';
import {
  STORE_CALLS,
  copyBytes,
  type SessionSizeOptions,
  sizeLimit,
  validateDestroyByOwnerArgs,
  validateDuration,
  validateKey,
  validateRotateArgs,
  validateSessionSet,
} from '@stowage/core/adapter-kit';
import { MapStore, type MapStoreOptions } from './map-store.js';

const CALLS = STORE_CALLS.session;

export interface MapSessionStoreOptions extends MapStoreOptions, SessionSizeOptions {}

/** A stored session; frozen, replaced on every write. */
interface Entry {
  readonly data: Uint8Array;
  readonly version: number;
  readonly expiresAt: number;
  readonly absoluteExpiresAt: number | undefined;
  readonly owner: string | undefined;
}

/** {@link SessionStore} on the shared `Map` backend. */
export class MapSessionStore extends MapStore<Entry> implements SessionStore {
  private readonly maxDataBytes: number;

  constructor(options: MapSessionStoreOptions) {
    super('MapSessionStore', 'sessions', options);
    this.maxDataBytes = sizeLimit(this.source, options, 'maxDataBytes');
  }

  /** The session if it is live at `now`: an expired one is invisible, whether or not `prune` ran. */
  private live(id: string, now: number): Entry | undefined {
    const e = this.records.get(id);
    return e !== undefined && e.expiresAt > now ? e : undefined;
  }

  private put(id: string, entry: Entry): void {
    this.records.set(id, Object.freeze(entry));
  }

  async get(id: string, opts?: CallOptions): Promise<SessionRecord | undefined> {
    validateKey(this.source, 'id', id);
    const e = this.live(id, this.begin(opts, CALLS.get));
    if (e === undefined) return undefined;
    // Copy out: the caller may change the bytes it gets.
    const record: SessionRecord = { data: copyBytes(e.data), version: e.version, expiresAt: e.expiresAt };
    if (e.absoluteExpiresAt !== undefined) record.absoluteExpiresAt = e.absoluteExpiresAt;
    if (e.owner !== undefined) record.owner = e.owner;
    return record;
  }

  async set(id: string, data: Uint8Array, opts: SessionSetOptions): Promise<{ version: number }> {
    const v = validateSessionSet(this.source, id, data, opts, this.maxDataBytes);
    const now = this.begin(opts, CALLS.set);
    const current = this.live(id, now);
    const currentVersion = current?.version ?? 0;
    if (v.ifVersion !== undefined && v.ifVersion !== currentVersion) {
      throw this.source.error('CONFLICT', `session version is ${currentVersion}, not ${v.ifVersion}`, { details: { currentVersion } });
    }
    // An absolute expiry is fixed by the insert; an owner is kept unless a new one is given.
    const absoluteExpiresAt = current ? current.absoluteExpiresAt : v.absoluteTtlMs === undefined ? undefined : now + v.absoluteTtlMs;
    const version = currentVersion + 1;
    this.put(id, {
      data: copyBytes(data), // copy in: the caller may change its bytes after the call
      version,
      expiresAt: capped(now + v.ttlMs, absoluteExpiresAt),
      absoluteExpiresAt,
      owner: v.owner ?? current?.owner,
    });
    return { version };
  }

  async touch(id: string, ttlMs: number, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'id', id);
    validateDuration(this.source, 'ttlMs', ttlMs);
    const now = this.begin(opts, CALLS.touch);
    const e = this.live(id, now);
    if (e === undefined) return false;
    this.put(id, { ...e, expiresAt: capped(now + ttlMs, e.absoluteExpiresAt) });
    return true;
  }

  async destroy(id: string, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'id', id);
    if (this.live(id, this.begin(opts, CALLS.destroy)) === undefined) return false;
    return this.records.delete(id);
  }

  async rotate(oldId: string, newId: string, opts?: { ttlMs?: number } & CallOptions): Promise<boolean> {
    const ttlMs = validateRotateArgs(this.source, oldId, newId, opts);
    const now = this.begin(opts, CALLS.rotate);
    const e = this.live(oldId, now);
    if (e === undefined) return false;
    if (this.live(newId, now) !== undefined) throw this.source.error('CONFLICT', 'a live session already has the new id');
    this.records.delete(oldId);
    this.put(newId, ttlMs === undefined ? e : { ...e, expiresAt: capped(now + ttlMs, e.absoluteExpiresAt) });
    return true;
  }

  /** Scans the table: a real backend keeps an index by owner (a Redis set, an SQL index). */
  async destroyByOwner(owner: string, opts?: { except?: string } & CallOptions): Promise<number> {
    const except = validateDestroyByOwnerArgs(this.source, owner, opts);
    const now = this.begin(opts, CALLS.destroyByOwner);
    let count = 0;
    for (const [id, e] of this.records) {
      if (e.owner === owner && id !== except && e.expiresAt > now) count += Number(this.records.delete(id));
    }
    return count;
  }

  protected reclaim(id: string, e: Entry, now: number): number {
    return e.expiresAt <= now ? Number(this.records.delete(id)) : 0;
  }
}

/** The idle expiry, never past the absolute one. */
function capped(expiresAt: number, absolute: number | undefined): number {
  return absolute !== undefined && absolute < expiresAt ? absolute : expiresAt;
}
