import type { StreamStore } from '@stowage/core';
import {
  storedStreamFromRow,
  type StreamRow,
  EngineStreamOps,
  ErrorSource,
  runSync,
  type StreamOp,
  validateTimerMs,
  type MessageRun,
  runOf,
  type ProducerState,
  type StoredStream,
  type StreamBackend,
  sizeLimit,
  type StreamSizeOptions,
  readThrough,
  StreamReadCache,
  type StreamReadCacheOptions,
  type OwnOptionNames,
} from '@stowage/core/adapter-kit';
import { randomUUID } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import { asBuffer, PACKAGE, SqliteStoreBase, type SqliteStoreOptions } from './base.js';

/** `pruneInWorker` is not one: the streams' cleanup runs in the engine, on the store's connection. */
export interface SqliteStreamStoreOptions extends Omit<SqliteStoreOptions, 'pruneInWorker'>, StreamSizeOptions, StreamReadCacheOptions {
  /**
   * While a `wait` is pending, how often to look for commits made by other processes on the
   * same file (`PRAGMA data_version`, one cheap call). Appends in this process wake waiters
   * at once. At most `MAX_TIMER_MS` (2^31 - 1, the longest delay a Node timer takes).
   * @default 50
   */
  pollIntervalMs?: number;
}

const toRow = (s: StoredStream) => ({
  name: s.name,
  id: s.id,
  content_type: s.contentType,
  media_type: s.mediaType,
  ttl_ms: s.ttlMs ?? null,
  expires_at: s.expiresAt ?? null,
  created_at: s.createdAt,
  accessed_at: s.accessedAt,
  deadline: s.deadline ?? null,
  closed: s.closed ? 1 : 0,
  last_seq: s.lastSeq ?? null,
  tail: s.tail,
  forked_from: s.forkedFrom ?? null,
  fork_position: s.forkPosition ?? null,
  fork_sub_offset: s.forkSubOffset ?? null,
  ref_count: s.refCount,
  deleted: s.deleted ? 1 : 0,
});

const COLUMNS = [
  'name',
  'id',
  'content_type',
  'media_type',
  'ttl_ms',
  'expires_at',
  'created_at',
  'accessed_at',
  'deadline',
  'closed',
  'last_seq',
  'tail',
  'forked_from',
  'fork_position',
  'fork_sub_offset',
  'ref_count',
  'deleted',
];

/** The engine's storage as prepared statements; every engine call runs in one transaction (see `Statements.run`). */
class SqliteStreamBackend implements StreamBackend {
  private readonly s: Record<string, Statement>;

  private readonly utf8: boolean;

  constructor(
    db: Database,
    p: string,
    private readonly cache: StreamReadCache,
  ) {
    this.utf8 = db.pragma('encoding', { simple: true }) === 'UTF-8';
    const streams = `${p}streams`;
    const messages = `${p}stream_messages`;
    const producers = `${p}stream_producers`;
    this.s = {
      get: db.prepare(`SELECT * FROM ${streams} WHERE name = ?`),
      insert: db.prepare(`INSERT INTO ${streams} (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => `@${c}`).join(', ')})`),
      update: db.prepare(
        `UPDATE ${streams} SET ${COLUMNS.filter((c) => c !== 'id')
          .map((c) => `${c} = @${c}`)
          .join(', ')} WHERE id = @id`,
      ),
      removeStream: db.prepare(`DELETE FROM ${streams} WHERE id = ?`),
      removeMessages: db.prepare(`DELETE FROM ${messages} WHERE stream_id = ?`),
      removeProducers: db.prepare(`DELETE FROM ${producers} WHERE stream_id = ?`),
      append: db.prepare(`INSERT INTO ${messages} (stream_id, position, data) VALUES (?, ?, ?)`),
      // Positions are contiguous from `after + 1`: the blobs alone.
      read: db
        .prepare(`SELECT data FROM ${messages} WHERE stream_id = ? AND position > ? AND position <= ? ORDER BY position LIMIT ?`)
        .pluck(),
      // A read in two steps of one row each (see `read`); the ordered, limited subquery is a
      // search of the primary key in order, so the aggregates see the messages in order.
      sizes: db
        .prepare(
          `SELECT json_group_array(size) FROM (SELECT length(data) AS size FROM ${messages}
           WHERE stream_id = @id AND position > @after AND position <= @last ORDER BY position LIMIT @last - @after)`,
        )
        .pluck(),
      joined: db
        .prepare(
          `SELECT CAST(group_concat(data, x'') AS BLOB) FROM (SELECT data FROM ${messages}
           WHERE stream_id = @id AND position > @after AND position <= @last ORDER BY position LIMIT @last - @after)`,
        )
        .pluck(),
      producer: db.prepare(`SELECT epoch, seq FROM ${producers} WHERE stream_id = ? AND producer_id = ?`),
      setProducer: db.prepare(
        `INSERT INTO ${producers} (stream_id, producer_id, epoch, seq, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (stream_id, producer_id) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq, updated_at = excluded.updated_at`,
      ),
      expired: db.prepare(`SELECT * FROM ${streams} WHERE deleted = 0 AND deadline <= ? LIMIT ?`),
      forks: db.prepare(`SELECT * FROM ${streams} WHERE forked_from = ?`),
    };
  }

  get(name: string): StoredStream | undefined {
    const row = this.s.get!.get(name) as StreamRow | undefined;
    return row === undefined ? undefined : storedStreamFromRow(row);
  }
  insert(stream: StoredStream): void {
    this.s.insert!.run(toRow(stream));
  }
  update(stream: StoredStream): void {
    this.s.update!.run(toRow(stream));
  }
  remove(stream: StoredStream): void {
    this.s.removeStream!.run(stream.id);
    this.s.removeMessages!.run(stream.id);
    this.s.removeProducers!.run(stream.id);
  }
  append(streamId: string, first: number, messages: readonly Uint8Array[]): void {
    for (let i = 0; i < messages.length; i++) this.s.append!.run(streamId, first + i, asBuffer(messages[i]!));
  }
  /**
   * A read as two one-row statements rather than a row per message (stepping 1,000 rows from
   * JavaScript was most of a catch-up read's time): the sizes of the messages in range, then,
   * once the byte limit has cut them, their bytes joined by SQLite. It joins blobs as
   * text (`group_concat`): byte for byte in a UTF-8 database; any other encoding reads row by row.
   * Messages this store has read before come from its cache (`readCacheBytes`).
   */
  read(streamId: string, after: number, upTo: number, maxBytes: number, maxMessages: number, readOnly = false): MessageRun {
    const read = { after, upTo, maxBytes, maxMessages, copy: !readOnly };
    return readThrough(this.cache, streamId, read, (from, bytes, count) => this.readStored(streamId, from, upTo, bytes, count));
  }
  private readStored(streamId: string, after: number, upTo: number, maxBytes: number, maxMessages: number): MessageRun {
    const last = Math.min(upTo, after + maxMessages);
    if (!this.utf8 || last <= after) return this.readRows(streamId, after, upTo, maxBytes, maxMessages);
    const sizes = JSON.parse(this.s.sizes!.get({ id: streamId, after, last }) as string) as number[];
    const ends: number[] = [];
    let bytes = 0;
    for (let i = 0; i < sizes.length; i++) {
      if (i > 0 && bytes + sizes[i]! > maxBytes) break;
      bytes += sizes[i]!;
      ends.push(bytes);
    }
    if (ends.length === 0) return { bytes: new Uint8Array(0), ends };
    const joined = this.s.joined!.get({ id: streamId, after, last: after + ends.length }) as Buffer | null;
    // One snapshot (the engine's transaction): the bytes are the sizes' sum, unless SQLite joined them otherwise.
    if (joined === null || joined.byteLength !== bytes) throw new Error('SQLite joined the stored messages into other bytes');
    return { bytes: joined, ends };
  }
  private readRows(streamId: string, after: number, upTo: number, maxBytes: number, maxMessages: number): MessageRun {
    const rows: Buffer[] = [];
    let bytes = 0;
    // Iterate so a byte limit stops reading rows early; `pluck`: each row is its blob alone.
    for (const data of this.s.read!.iterate(streamId, after, upTo, maxMessages) as Iterable<Buffer>) {
      if (rows.length > 0 && bytes + data.byteLength > maxBytes) break;
      bytes += data.byteLength;
      rows.push(data);
    }
    return runOf(rows);
  }
  producer(streamId: string, producerId: string): ProducerState | undefined {
    return this.s.producer!.get(streamId, producerId) as ProducerState | undefined;
  }
  setProducer(streamId: string, producerId: string, state: ProducerState, now: number): void {
    this.s.setProducer!.run(streamId, producerId, state.epoch, state.seq, now);
  }
  expired(now: number, limit: number): StoredStream[] {
    return (this.s.expired!.all(now, limit) as StreamRow[]).map(storedStreamFromRow);
  }
  forks(name: string): StoredStream[] {
    return (this.s.forks!.all(name) as StreamRow[]).map(storedStreamFromRow);
  }
  newId(): string {
    return randomUUID();
  }
}

/** Stream stores by connection: a change through one wakes the waiters of the others at once. */
const peers = new WeakMap<Database, Set<SqliteStreamStore>>();

interface Statements {
  /**
   * Runs an engine operation in one transaction. Deferred (`immediate` false): it reads a
   * snapshot and takes the write lock at its first write, so an operation that writes nothing
   * (a read of a stream without a TTL to renew, `head`, a waiter's look) never takes it, and in
   * WAL mode runs while another connection or process holds it. A first write that finds the lock
   * taken, or the snapshot outdated by another's commit, fails with SQLITE_BUSY before anything is
   * written, and the whole operation runs again (see `LockWait`), then `BEGIN IMMEDIATE`: the lock
   * first, so a try that would only fail again at its first write reads nothing.
   */
  run<T>(op: StreamOp<T>, immediate: boolean): T;
  dataVersion: Statement;
}

/** This store's options beyond the backend's. */
const OWN_OPTIONS: OwnOptionNames<SqliteStreamStoreOptions, SqliteStoreOptions> = {
  maxMessageBytes: true,
  readCacheBytes: true,
  pollIntervalMs: true,
  pruneInWorker: false,
};

/**
 * {@link StreamStore} on better-sqlite3, running the reference `StreamEngine` of
 * `@stowage/core` inside transactions that take the write lock only to write. `wait` wakes at
 * once for appends through this store and within `pollIntervalMs` for appends by other processes.
 */
export class SqliteStreamStore extends SqliteStoreBase<Statements> implements StreamStore {
  protected readonly component = 'streams';
  private readonly pollIntervalMs: number;
  private readonly ops: EngineStreamOps;
  private poller: NodeJS.Timeout | undefined;
  private lastDataVersion = -1;
  private readonly cache: StreamReadCache;
  constructor(options: SqliteStreamStoreOptions) {
    if ((options as SqliteStoreOptions | undefined)?.pruneInWorker !== undefined) {
      throw new ErrorSource(PACKAGE, 'SqliteStreamStore').invalid('options.pruneInWorker is not an option of the stream store', {
        field: 'options.pruneInWorker',
      });
    }
    super('SqliteStreamStore', options, OWN_OPTIONS);
    const maxMessageBytes = sizeLimit(this.source, options, 'maxMessageBytes');
    this.cache = StreamReadCache.of(this.source, options);
    this.pollIntervalMs =
      options.pollIntervalMs === undefined ? 50 : validateTimerMs(this.source, 'options.pollIntervalMs', options.pollIntervalMs);
    this.ops = new EngineStreamOps({
      source: this.source,
      ensureOpen: () => this.ensureOpen(),
      atomic: <T>(make: (now: number) => StreamOp<T>, deadline: number | undefined) =>
        this.op((s, now, retry) => s.run(make(now), retry), deadline === undefined ? undefined : { deadline }, undefined, true),
      // Never writes: a deferred transaction on every try.
      atomicRead: <T>(make: (now: number) => StreamOp<T>, deadline: number | undefined) =>
        this.op((s, now) => s.run(make(now), false), deadline === undefined ? undefined : { deadline }, undefined, true),
      maxMessageBytes,
      // A commit on this connection does not change what `data_version` shows to it, so
      // stores sharing the connection are told directly.
      onChange: (name) => {
        for (const peer of peers.get(this.db) ?? []) if (peer !== this) peer.wake(this.prefix, name);
      },
      beforeWait: () => this.startPolling(),
    });
    this.instrument('stream');
  }

  protected prepare(): Statements {
    const backend = new SqliteStreamBackend(this.db, this.prefix, this.cache);
    const tx = this.db.transaction((op: StreamOp<unknown>) => runSync(op, backend));
    let set = peers.get(this.db);
    if (set === undefined) peers.set(this.db, (set = new Set()));
    set.add(this);
    return {
      run: <T>(op: StreamOp<T>, immediate: boolean) => (immediate ? tx.immediate(op) : tx.deferred(op)) as T,
      dataVersion: this.db.prepare('PRAGMA data_version'),
    };
  }

  create: StreamStore['create'] = (name, config, opts) => this.ops.create(name, config, opts);
  append: StreamStore['append'] = (name, messages, opts) => this.ops.append(name, messages, opts);
  read: StreamStore['read'] = (name, from, opts) => this.ops.read(name, from, opts);
  head: StreamStore['head'] = (name, opts) => this.ops.head(name, opts);
  closeStream: StreamStore['closeStream'] = (name, opts) => this.ops.closeStream(name, opts);
  delete: StreamStore['delete'] = (name, opts) => this.ops.delete(name, opts);
  cleanupExpired: StreamStore['cleanupExpired'] = () => this.ops.cleanupExpired();
  wait: StreamStore['wait'] = (name, offset, timeoutMs, signal) => this.ops.wait(name, offset, timeoutMs, signal);

  override async prune(): Promise<number> {
    return this.cleanupExpired();
  }

  protected pruneStatements(): string[] {
    return [];
  }

  /** One timer per store, only while waits are pending: another process's commit wakes every waiter. */
  private startPolling(): void {
    if (this.poller !== undefined) return;
    this.poller = setInterval(() => {
      if (this.ops.waiters.size === 0) {
        clearInterval(this.poller);
        this.poller = undefined;
        return;
      }
      try {
        const version = this.once((s) => (s.dataVersion.get() as { data_version: number }).data_version);
        if (version !== this.lastDataVersion) {
          this.lastDataVersion = version;
          this.ops.waiters.notifyAll();
        }
      } catch {
        // A failed probe is retried at the next tick; waiters time out on their own.
      }
    }, this.pollIntervalMs);
    this.poller.unref();
  }

  /** Wakes this store's waiters on `name` if it shares the table prefix. */
  private wake(prefix: string, name: string): void {
    if (prefix === this.prefix) this.ops.waiters.notify(name);
  }

  protected override onClose(): void {
    peers.get(this.db)?.delete(this);
    clearInterval(this.poller);
    this.poller = undefined;
    this.ops.waiters.close();
  }
}
