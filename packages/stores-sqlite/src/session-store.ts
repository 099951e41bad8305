import type { CallOptions, SessionRecord, SessionSetOptions, SessionStore } from '@stowage/core';
import {
  STORE_CALLS,
  sessionRecordFromRow,
  validateDestroyByOwnerArgs,
  validateDuration,
  validateKey,
  validateRotateArgs,
  validateSessionSet,
  type SessionRow,
  sizeLimit,
  type SessionSizeOptions,
  type OwnOptionNames,
} from '@stowage/core/adapter-kit';
import type { Statement } from 'better-sqlite3';
import { asBuffer, SqliteStoreBase, type SqliteStoreOptions, writeReturning } from './base.js';

const CALLS = STORE_CALLS.session;

export interface SqliteSessionStoreOptions extends SqliteStoreOptions, SessionSizeOptions {}

interface Statements {
  get: Statement;
  set: Statement;
  version: Statement;
  touch: Statement;
  destroy: Statement;
  clearExpired: Statement;
  exists: Statement;
  move: Statement;
  destroyByOwner: Statement;
  rotate: (oldId: string, newId: string, ttlMs: number | null, now: number) => boolean;
}

/** This store's options beyond the backend's. */
const OWN_OPTIONS: OwnOptionNames<SqliteSessionStoreOptions, SqliteStoreOptions> = { maxDataBytes: true };

/** {@link SessionStore} on better-sqlite3. */
export class SqliteSessionStore extends SqliteStoreBase<Statements> implements SessionStore {
  protected readonly component = 'sessions';
  private readonly maxDataBytes: number;

  constructor(options: SqliteSessionStoreOptions) {
    super('SqliteSessionStore', options, OWN_OPTIONS);
    this.maxDataBytes = sizeLimit(this.source, options, 'maxDataBytes');
    this.instrument('session');
  }

  protected prepare(): Statements {
    const t = `${this.prefix}sessions`;
    // The live version of an existing row: 0 once it has expired (it then counts as missing).
    const live = `CASE WHEN ${t}.expires_at > @now THEN ${t}.version ELSE 0 END`;
    const s = {
      get: this.db.prepare(`SELECT data, version, expires_at, absolute_expires_at, owner FROM ${t} WHERE id = ? AND expires_at > ?`),
      // One statement: insert, replace, or (with ifVersion) compare-and-swap. An expired row is
      // replaced as if new: version 1, its owner and absolute expiry forgotten.
      set: this.db.prepare(
        `INSERT INTO ${t} (id, data, version, expires_at, absolute_expires_at, owner)
         SELECT @id, @data, 1, min(@now + @ttl, coalesce(@now + @abs, @now + @ttl)), @now + @abs, @owner
         WHERE @ifVersion IS NULL OR @ifVersion = 0 OR EXISTS (SELECT 1 FROM ${t} WHERE id = @id)
         ON CONFLICT (id) DO UPDATE SET
           data = excluded.data,
           version = ${live} + 1,
           absolute_expires_at = CASE WHEN ${t}.expires_at > @now THEN ${t}.absolute_expires_at ELSE excluded.absolute_expires_at END,
           owner = CASE WHEN ${t}.expires_at > @now THEN coalesce(@owner, ${t}.owner) ELSE @owner END,
           expires_at = CASE WHEN ${t}.expires_at > @now
             THEN min(@now + @ttl, coalesce(${t}.absolute_expires_at, @now + @ttl))
             ELSE excluded.expires_at END
         WHERE @ifVersion IS NULL OR ${live} = @ifVersion
         RETURNING version`,
      ),
      version: this.db.prepare(`SELECT version FROM ${t} WHERE id = ? AND expires_at > ?`),
      touch: this.db.prepare(
        `UPDATE ${t} SET expires_at = min(@now + @ttl, coalesce(absolute_expires_at, @now + @ttl))
         WHERE id = @id AND expires_at > @now`,
      ),
      destroy: this.db.prepare(`DELETE FROM ${t} WHERE id = ? AND expires_at > ?`),
      clearExpired: this.db.prepare(`DELETE FROM ${t} WHERE id = ? AND expires_at <= ?`),
      exists: this.db.prepare(`SELECT 1 FROM ${t} WHERE id = ?`),
      move: this.db.prepare(
        `UPDATE ${t} SET id = @newId,
           expires_at = CASE WHEN @ttl IS NULL THEN expires_at ELSE min(@now + @ttl, coalesce(absolute_expires_at, @now + @ttl)) END
         WHERE id = @oldId AND expires_at > @now`,
      ),
      destroyByOwner: this.db.prepare(`DELETE FROM ${t} WHERE owner = @owner AND expires_at > @now AND (@except IS NULL OR id <> @except)`),
    };
    // rotate needs several statements: one BEGIN IMMEDIATE transaction.
    const rotate = this.db.transaction((oldId: string, newId: string, ttl: number | null, now: number): boolean => {
      s.clearExpired.run(newId, now);
      if (s.exists.get(newId) !== undefined) {
        if (s.version.get(oldId, now) === undefined) return false;
        throw this.source.error('CONFLICT', 'a live session already has the new id');
      }
      return s.move.run({ oldId, newId, ttl, now }).changes > 0;
    });
    return { ...s, rotate: (o, n, ttl, now) => rotate.immediate(o, n, ttl, now) };
  }

  protected pruneStatements(): string[] {
    const t = `${this.prefix}sessions`;
    return [`DELETE FROM ${t} WHERE rowid IN (SELECT rowid FROM ${t} WHERE expires_at <= ? LIMIT ?)`];
  }

  async get(id: string, opts?: CallOptions): Promise<SessionRecord | undefined> {
    validateKey(this.source, 'id', id);
    return this.op(
      (s, now) => {
        const row = s.get.get(id, now) as SessionRow | undefined;
        if (row === undefined) return undefined;
        return sessionRecordFromRow(row);
      },
      opts,
      CALLS.get,
    );
  }

  async set(id: string, data: Uint8Array, opts: SessionSetOptions): Promise<{ version: number }> {
    const v = validateSessionSet(this.source, id, data, opts, this.maxDataBytes);
    const ttl = v.ttlMs;
    const abs = v.absoluteTtlMs ?? null;
    const ifVersion = v.ifVersion ?? null;
    const owner = v.owner ?? null;
    return this.op(
      (s, now) => {
        const row = writeReturning<{ version: number }>(s.set, { id, data: asBuffer(data), now, ttl, abs, ifVersion, owner });
        if (row !== undefined) return { version: row.version };
        const current = (s.version.get(id, now) as { version: number } | undefined)?.version ?? 0;
        throw this.source.error('CONFLICT', `session version is ${current}, not ${ifVersion}`, { details: { currentVersion: current } });
      },
      opts,
      CALLS.set,
    );
  }

  async touch(id: string, ttlMs: number, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'id', id);
    const ttl = validateDuration(this.source, 'ttlMs', ttlMs);
    return this.op((s, now) => s.touch.run({ id, ttl, now }).changes > 0, opts, CALLS.touch);
  }

  async destroy(id: string, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'id', id);
    return this.op((s, now) => s.destroy.run(id, now).changes > 0, opts, CALLS.destroy);
  }

  async rotate(oldId: string, newId: string, opts?: { ttlMs?: number } & CallOptions): Promise<boolean> {
    const ttl = validateRotateArgs(this.source, oldId, newId, opts) ?? null;
    // One transaction: a lock error leaves nothing of it.
    return this.op((s, now) => s.rotate(oldId, newId, ttl, now), opts, CALLS.rotate, true);
  }

  async destroyByOwner(owner: string, opts?: { except?: string } & CallOptions): Promise<number> {
    const except = validateDestroyByOwnerArgs(this.source, owner, opts) ?? null;
    return this.op((s, now) => s.destroyByOwner.run({ owner, except, now }).changes, opts, CALLS.destroyByOwner);
  }
}
