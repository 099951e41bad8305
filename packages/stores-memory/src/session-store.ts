import type { CallOptions, SessionRecord, SessionSetOptions, SessionStore } from '@stowage/core';
import {
  STORE_CALLS,
  copyBytes,
  validateDestroyByOwnerArgs,
  validateDuration,
  validateKey,
  validateRotateArgs,
  validateSessionSet,
  sizeLimit,
  type SessionSizeOptions,
  type OwnOptionNames,
} from '@stowage/core/adapter-kit';
import { MemoryStoreBase, type MemoryStoreOptions } from './base.js';
import { ExpiringMap } from './expiring-map.js';

const CALLS = STORE_CALLS.session;

export interface MemorySessionStoreOptions extends MemoryStoreOptions, SessionSizeOptions {}

interface Entry {
  data: Uint8Array;
  version: number;
  expiresAt: number;
  absoluteExpiresAt: number | undefined;
  owner: string | undefined;
}

/** This store's options beyond the backend's. */
const OWN_OPTIONS: OwnOptionNames<MemorySessionStoreOptions, MemoryStoreOptions> = { maxDataBytes: true };

/** {@link SessionStore} in process memory. */
export class MemorySessionStore extends MemoryStoreBase implements SessionStore {
  private readonly sessions: ExpiringMap<string, Entry>;
  private readonly byOwner = new Map<string, Set<string>>();
  private readonly maxDataBytes: number;

  constructor(options: MemorySessionStoreOptions = {}) {
    super('MemorySessionStore', options, OWN_OPTIONS);
    this.maxDataBytes = sizeLimit(this.source, options, 'maxDataBytes');
    this.sessions = new ExpiringMap<string, Entry>({
      maxEntries: this.maxEntries,
      onRemove: (id, entry) => this.unindex(id, entry.owner),
    });
    this.instrument('session');
  }

  private index(id: string, owner: string | undefined): void {
    if (owner === undefined) return;
    let ids = this.byOwner.get(owner);
    if (ids === undefined) this.byOwner.set(owner, (ids = new Set()));
    ids.add(id);
  }

  private unindex(id: string, owner: string | undefined): void {
    if (owner === undefined) return;
    const ids = this.byOwner.get(owner);
    if (ids === undefined) return;
    ids.delete(id);
    if (ids.size === 0) this.byOwner.delete(owner);
  }

  async get(id: string, opts?: CallOptions): Promise<SessionRecord | undefined> {
    validateKey(this.source, 'id', id);
    const now = this.begin(opts, CALLS.get);
    const e = this.sessions.get(id, now);
    if (e === undefined) return undefined;
    const record: SessionRecord = { data: copyBytes(e.data), version: e.version, expiresAt: e.expiresAt };
    if (e.absoluteExpiresAt !== undefined) record.absoluteExpiresAt = e.absoluteExpiresAt;
    if (e.owner !== undefined) record.owner = e.owner;
    return record;
  }

  async set(id: string, data: Uint8Array, opts: SessionSetOptions): Promise<{ version: number }> {
    const v = validateSessionSet(this.source, id, data, opts, this.maxDataBytes);
    const now = this.begin(opts, CALLS.set);
    const ttlMs = v.ttlMs;
    const absoluteTtlMs = v.absoluteTtlMs;
    const ifVersion = v.ifVersion;
    const owner = v.owner;

    const current = this.sessions.get(id, now);
    const currentVersion = current?.version ?? 0;
    if (ifVersion !== undefined && ifVersion !== currentVersion) {
      throw this.source.error('CONFLICT', `session version is ${currentVersion}, not ${ifVersion}`, {
        details: { currentVersion },
      });
    }
    if (current === undefined) {
      const absoluteExpiresAt = absoluteTtlMs === undefined ? undefined : now + absoluteTtlMs;
      const entry: Entry = {
        data: copyBytes(data),
        version: 1,
        expiresAt: capped(now + ttlMs, absoluteExpiresAt),
        absoluteExpiresAt,
        owner,
      };
      this.sessions.set(id, entry);
      this.index(id, owner);
      return { version: 1 };
    }
    // Same size (a resave): overwrite in place. No new buffer means no garbage and no old-to-young pointer
    // for the scavenger to trace, which is most of a write's cost once the map outgrows the CPU caches.
    if (current.data.byteLength === data.byteLength) current.data.set(data);
    else current.data = copyBytes(data);
    current.version += 1;
    current.expiresAt = capped(now + ttlMs, current.absoluteExpiresAt);
    if (owner !== undefined && owner !== current.owner) {
      this.unindex(id, current.owner);
      current.owner = owner;
      this.index(id, owner);
    }
    this.sessions.retime(id, current);
    return { version: current.version };
  }

  async touch(id: string, ttlMs: number, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'id', id);
    validateDuration(this.source, 'ttlMs', ttlMs);
    const now = this.begin(opts, CALLS.touch);
    const e = this.sessions.get(id, now);
    if (e === undefined) return false;
    e.expiresAt = capped(now + ttlMs, e.absoluteExpiresAt);
    this.sessions.retime(id, e);
    return true;
  }

  async destroy(id: string, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'id', id);
    const now = this.begin(opts, CALLS.destroy);
    if (this.sessions.get(id, now) === undefined) return false;
    this.sessions.delete(id);
    return true;
  }

  async rotate(oldId: string, newId: string, opts?: { ttlMs?: number } & CallOptions): Promise<boolean> {
    const ttlMs = validateRotateArgs(this.source, oldId, newId, opts);
    const now = this.begin(opts, CALLS.rotate);
    const e = this.sessions.get(oldId, now);
    if (e === undefined) return false;
    if (this.sessions.get(newId, now) !== undefined) {
      throw this.source.error('CONFLICT', 'a live session already has the new id');
    }
    this.sessions.delete(oldId);
    if (ttlMs !== undefined) e.expiresAt = capped(now + ttlMs, e.absoluteExpiresAt);
    this.sessions.set(newId, e);
    this.index(newId, e.owner);
    return true;
  }

  async destroyByOwner(owner: string, opts?: { except?: string } & CallOptions): Promise<number> {
    const except = validateDestroyByOwnerArgs(this.source, owner, opts);
    const now = this.begin(opts, CALLS.destroyByOwner);
    const ids = this.byOwner.get(owner);
    if (ids === undefined) return 0;
    let count = 0;
    for (const id of [...ids]) {
      if (id === except) continue;
      if (this.sessions.get(id, now) !== undefined) count++;
      this.sessions.delete(id);
    }
    return count;
  }

  protected sweep(now: number): number {
    return this.sessions.sweep(now);
  }

  protected override onClose(): void {
    this.sessions.clear();
    this.byOwner.clear();
  }
}

function capped(expiresAt: number, absolute: number | undefined): number {
  return absolute !== undefined && absolute < expiresAt ? absolute : expiresAt;
}
