import { createHash, randomUUID } from 'node:crypto';
import type { StreamAppendOptions, StreamAppendResult, StreamReadOptions, StreamReadResult, StreamStore } from '@stowage/core';
import {
  STORE_CALLS,
  backgroundReporter,
  budgetTimeout,
  storedStreamFromRow,
  type StreamRow,
  EngineStreamOps,
  PG_SERVER_NOW,
  runAsync,
  type AsyncStreamBackend,
  type CallBudget,
  deadlineOf,
  formatOffset,
  parseOffset,
  validateAppendOptions,
  validateTimerMs,
  validateMessages,
  validateKey,
  validateReadOptions,
  type ProducerState,
  type StreamOp,
  sizeLimit,
  type StreamSizeOptions,
  EMPTY_RUN,
  readThrough,
  StreamReadCache,
  type StreamReadCacheOptions,
  withCached,
  type OwnOptionNames,
} from '@stowage/core/adapter-kit';
import type pg from 'pg';
import { isRetryable, lateAt, mapError, PgStoreBase, Sql, type PostgresStoreOptions } from './base.js';
import { appendStatement } from './stream-append.js';
import { STREAM_COLUMNS, streamValues } from './stream-columns.js';
import { StreamListener } from './stream-listen.js';
import {
  type LookRow,
  lookSnapshot,
  oneStatementRead,
  type ReadRow,
  type ReadStatements,
  readStatements,
  runFromRow,
  type RunRow,
} from './stream-read.js';

const CALLS = STORE_CALLS.stream;

export interface PostgresStreamStoreOptions extends PostgresStoreOptions, StreamSizeOptions, StreamReadCacheOptions {
  /**
   * While `LISTEN` is down (it failed, or its connection was lost), waiters look at their
   * stream again this often, until the store listens again. At most `MAX_TIMER_MS`.
   * @default 500
   */
  pollMs?: number;
}

const asBuffer = (m: Uint8Array): Buffer => Buffer.from(m.buffer, m.byteOffset, m.byteLength);

type Run = <R>(sql: Sql, params: unknown[]) => Promise<R[]>;

/** This store's options beyond the backend's. */
const OWN_OPTIONS: OwnOptionNames<PostgresStreamStoreOptions, PostgresStoreOptions> = {
  maxMessageBytes: true,
  readCacheBytes: true,
  pollMs: true,
};

/**
 * {@link StreamStore} on PostgreSQL, running the reference `StreamEngine` of `@stowage/core`.
 *
 * Each operation is one transaction. It cannot be one statement: an append checks the
 * stream, the producer and the writer sequence before it writes messages, the stream and the
 * producer, and a fork or a delete walks and updates the rows of a chain of streams; a
 * transaction holding the stream rows (`FOR UPDATE`) keeps all of it atomic. Reads that write
 * nothing (`head`, waiters) run without a transaction. The COMMIT goes in one message with
 * `<prefix>check_deadline`, so a transaction whose caller's deadline has passed by then (by
 * the server's clock) rolls back, at no extra round trip.
 *
 * `wait` wakes on `LISTEN/NOTIFY` through one dedicated connection per store (taken from
 * the pool while the store is open), which listens again after the connection drops.
 * While it does not listen, waiters poll (`pollMs`) and the failure goes to `onError`
 * (operation `listen`); a failed `pg_notify` goes there too (operation `notify`).
 */
export class PostgresStreamStore extends PgStoreBase implements StreamStore {
  protected readonly component = 'streams';
  private readonly ops: EngineStreamOps;
  private readonly sql: Record<string, Sql>;
  private readonly reads: ReadStatements;
  private readonly appendOne: Sql;
  private readonly maxMessageBytes: number;
  private readonly channel: string;
  private readonly listener: StreamListener;
  private readonly cache: StreamReadCache;

  constructor(options: PostgresStreamStoreOptions) {
    super('PostgresStreamStore', options, OWN_OPTIONS);
    const maxMessageBytes = sizeLimit(this.source, options, 'maxMessageBytes');
    const pollMs = options.pollMs === undefined ? 500 : validateTimerMs(this.source, 'options.pollMs', options.pollMs);
    const report = backgroundReporter(this.source, 'options.onError', options.onError);
    this.cache = StreamReadCache.of(this.source, options);
    const S = this.t.table('streams');
    const M = this.t.table('stream_messages');
    const P = this.t.table('stream_producers');
    this.reads = readStatements(S, M);
    this.appendOne = appendStatement(S, M, (n) => this.inTime(n));
    this.maxMessageBytes = maxMessageBytes;
    this.channel = `stowage_streams_${createHash('sha1').update(`${this.t.schema}.${this.t.prefix}`).digest('hex').slice(0, 24)}`;
    const params = STREAM_COLUMNS.map(([, type], i) => `$${i + 1}::${type}`);
    this.sql = {
      now: new Sql(`SELECT ${PG_SERVER_NOW} AS now`),
      get: new Sql(`SELECT * FROM ${S} WHERE name = $1::text FOR UPDATE`),
      peek: new Sql(`SELECT * FROM ${S} WHERE name = $1::text`),
      insert: new Sql(`INSERT INTO ${S} (${STREAM_COLUMNS.map(([c]) => c).join(', ')}) VALUES (${params.join(', ')})`),
      update: new Sql(
        `UPDATE ${S} SET ${STREAM_COLUMNS.map(([c], i) => (c === 'id' ? null : `${c} = ${params[i]}`))
          .filter(Boolean)
          .join(', ')} WHERE id = $2::text`,
      ),
      remove: new Sql(
        `WITH m AS (DELETE FROM ${M} WHERE stream_id = $1::text), p AS (DELETE FROM ${P} WHERE stream_id = $1::text)
         DELETE FROM ${S} WHERE id = $1::text`,
      ),
      append: new Sql(
        `INSERT INTO ${M} (stream_id, position, data)
         SELECT $1::text, $2::bigint + u.i - 1, u.d FROM unnest($3::bytea[]) WITH ORDINALITY AS u (d, i)`,
      ),
      producer: new Sql(`SELECT epoch, seq FROM ${P} WHERE stream_id = $1::text AND producer_id = $2::text`),
      setProducer: new Sql(
        `INSERT INTO ${P} (stream_id, producer_id, epoch, seq, updated_at) VALUES ($1::text, $2::text, $3::bigint, $4::bigint, $5::bigint)
         ON CONFLICT (stream_id, producer_id) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq, updated_at = excluded.updated_at`,
      ),
      expired: new Sql(`SELECT * FROM ${S} WHERE NOT deleted AND deadline <= $1::bigint LIMIT $2::bigint FOR UPDATE SKIP LOCKED`),
      // Taken from the source down only to remove the forks, while a fork's own removal (or its
      // name made again) holds the fork, then its source: NOWAIT, so one of two such operations
      // backs off and tries again at once instead of both waiting out PostgreSQL's deadlock check.
      forks: new Sql(`SELECT * FROM ${S} WHERE forked_from = $1::text FOR UPDATE NOWAIT`),
      peekForks: new Sql(`SELECT * FROM ${S} WHERE forked_from = $1::text`),
      notify: new Sql(`SELECT pg_notify($1::text, $2::text)`),
    };
    this.ops = new EngineStreamOps({
      source: this.source,
      ensureOpen: () => this.ensureOpen(),
      atomic: (make, deadline) => this.transaction(make, deadline),
      atomicRead: (make, deadline) => this.readOnly(make, deadline),
      maxMessageBytes,
      // Listen for other processes' appends; a wait looks once more when LISTEN is up (see beforeWait).
      beforeWait: () => this.listener.ensure(),
      look: async (name) => lookSnapshot((await this.query<LookRow>(this.reads.look, [name, this.nowParam()], this.budget(undefined)))[0]),
      onChange: (name) => {
        // Other processes (and other stores of this process) wake through LISTEN.
        void this.pool
          .query({ name: this.sql.notify!.name, text: this.sql.notify!.text, values: [this.channel, name] })
          .catch((err: unknown) => report(mapError(this.source, err), 'notify'));
      },
    });
    this.listener = new StreamListener({
      pool: this.pool,
      channel: this.channel,
      source: this.source,
      waiters: this.ops.waiters,
      report,
      pollMs,
    });
    this.instrument('stream');
  }

  private backend(run: Run, lock: boolean): AsyncStreamBackend {
    const s = this.sql;
    const stream = async (sql: Sql, name: string) => {
      const [row] = await run<StreamRow>(sql, [name]);
      return row === undefined ? undefined : storedStreamFromRow(row);
    };
    return {
      get: (name) => stream(lock ? s.get! : s.peek!, name),
      peek: (name) => stream(s.peek!, name),
      insert: async (stream) => void (await run(s.insert!, streamValues(stream))),
      update: async (stream) => void (await run(s.update!, streamValues(stream))),
      remove: async (stream) => void (await run(s.remove!, [stream.id])),
      append: async (streamId, first, messages) => void (await run(s.append!, [streamId, first, messages.map(asBuffer)])),
      read: (streamId, after, upTo, maxBytes, maxMessages, readOnly) =>
        readThrough(this.cache, streamId, { after, upTo, maxBytes, maxMessages, copy: !readOnly }, async (from, bytes, count) =>
          runFromRow((await run<RunRow>(this.reads.run, [streamId, from, upTo, bytes, count]))[0]),
        ),
      producer: async (streamId, producerId) => {
        const [row] = await run<ProducerState>(s.producer!, [streamId, producerId]);
        return row;
      },
      setProducer: async (streamId, producerId, state, now) =>
        void (await run(s.setProducer!, [streamId, producerId, state.epoch, state.seq, now])),
      expired: async (now, limit) => (await run<StreamRow>(s.expired!, [now, limit])).map(storedStreamFromRow),
      forks: async (name) => (await run<StreamRow>(lock ? s.forks! : s.peekForks!, [name])).map(storedStreamFromRow),
      peekForks: async (name) => (await run<StreamRow>(s.peekForks!, [name])).map(storedStreamFromRow),
      newId: async () => randomUUID(),
    };
  }

  /**
   * One engine operation in one transaction; serialization failures, create races and a held
   * fork (after a pause) retry, and a COMMIT refused as late while our budget still runs
   * (PostgreSQL's clock is ahead) teaches the clock offset and retries once.
   */
  private transaction<T>(make: (now: number) => StreamOp<T>, deadline: number | undefined): Promise<T> {
    let budget: CallBudget;
    try {
      budget = this.budget(deadline);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.timed(
      budget,
      async () => {
        let learnt = false;
        let pause = 0;
        for (let attempt = 0; ; attempt++) {
          if (pause > 0) {
            await new Promise((r) => setTimeout(r, Math.min(pause, budget.deadline - Date.now())));
            pause = 0;
          }
          const client = await this.pool.connect();
          if (Date.now() >= budget.deadline) {
            // The pool kept us waiting past the budget: send nothing.
            client.release();
            throw budgetTimeout(this.source, 'PostgreSQL', budget);
          }
          let broken: Error | undefined;
          try {
            const custom = this.nowParam();
            await this.simple(client, 'BEGIN', budget);
            const now = custom ?? (await this.run<{ now: number }>(this.sql.now!, [], budget, client))[0]!.now;
            const result = await runAsync(
              make(now),
              this.backend((sql, p) => this.run(sql, p, budget, client), true),
            );
            // One message: if the check refuses, PostgreSQL skips the COMMIT and we roll back.
            await this.simple(client, `SELECT ${this.deadlineFunction}(${this.serverDeadline(budget)}); COMMIT`, budget);
            return result;
          } catch (err) {
            if (Date.now() >= budget.deadline) {
              // A ROLLBACK could wait behind a statement still running (on a lock, on a paused
              // server): close the connection instead; the server then rolls back by itself.
              broken = err instanceof Error ? err : new Error(String(err));
              throw err;
            }
            await this.simple(client, 'ROLLBACK', budget).catch((e: Error) => (broken = e));
            const serverNow = lateAt(err);
            if (serverNow !== undefined && !learnt && this.learnClock(serverNow, budget)) {
              learnt = true;
              continue;
            }
            // 23505: two creates of one name raced; the retry finds the stream.
            const code = (err as { code?: string }).code;
            if (attempt < 20 && (isRetryable(err) || code === '23505')) continue;
            // 55P03: a fork was held (see `forks`): try again once its holder is likely done.
            if (attempt < 20 && code === '55P03') {
              pause = Math.min(2 ** attempt, 50) * (0.5 + Math.random());
              continue;
            }
            throw err;
          } finally {
            client.release(broken);
          }
        }
      },
      true,
    );
  }

  /** A statement without parameters on a transaction's connection, within what is left of the budget. */
  private async simple(client: pg.PoolClient, text: string, budget: CallBudget): Promise<void> {
    const ms = budget.deadline - Date.now();
    if (ms <= 0) throw budgetTimeout(this.source, 'PostgreSQL', budget);
    await client.query({ text, query_timeout: ms } as pg.QueryConfig);
  }

  private readOnly<T>(make: (now: number) => StreamOp<T>, deadline: number | undefined): Promise<T> {
    let budget: CallBudget;
    try {
      budget = this.budget(deadline);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.timed(budget, async () => {
      const now = this.nowParam() ?? (await this.run<{ now: number }>(this.sql.now!, [], budget))[0]!.now;
      return runAsync(
        make(now),
        this.backend((sql, p) => this.run(sql, p, budget), false),
      );
    });
  }

  create: StreamStore['create'] = (name, config, opts) => this.ops.create(name, config, opts);
  /** One statement for an append without producer or Stream-Seq to a live open stream; else the engine's transaction. */
  async append(name: string, messages: readonly Uint8Array[], opts?: StreamAppendOptions): Promise<StreamAppendResult> {
    validateKey(this.source, 'name', name);
    validateMessages(this.source, 'messages', messages, this.maxMessageBytes, false);
    const v = validateAppendOptions(this.source, opts);
    if (v.producer !== undefined || v.seq !== undefined) return this.ops.append(name, messages, opts);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.append));
    const values = [name, v.mediaType ?? null, messages.map(asBuffer), messages.length, this.nowParam(), v.close, this.channel];
    const [row] = await this.query<{ id: string; tail: number; closed: boolean }>(this.appendOne, values, budget);
    if (row === undefined) return this.ops.append(name, messages, opts);
    // Our waiters on this stream below the new tail are answered without a look.
    this.ops.changedHere(name, { id: row.id, tail: Number(row.tail) });
    const tail = Number(row.tail);
    return {
      nextOffset: formatOffset(tail),
      duplicate: false,
      closed: row.closed,
      streamId: row.id,
      previousOffset: formatOffset(tail - messages.length),
    };
  }
  /**
   * One statement when that is the whole read (a live stream without an idle TTL, from its own
   * messages); otherwise, and for every refusal, the engine's transaction. Messages this store
   * has read before come from its cache (`readCacheBytes`): the statement then reads the
   * stream's row and only the messages after them.
   */
  async read(name: string, fromOffset: string, opts?: StreamReadOptions): Promise<StreamReadResult> {
    validateKey(this.source, 'name', name);
    const position = parseOffset(this.source, 'fromOffset', fromOffset);
    const { maxBytes, maxMessages, readOnly } = validateReadOptions(this.source, opts);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.read));
    const id = this.cache.idOf(name);
    const cached = id === undefined ? undefined : this.cache.get(id, position, maxBytes, maxMessages);
    const statement = async (after: number, left: number, bytes: number) =>
      (await this.query<ReadRow>(this.reads.read, [name, after, bytes, left, this.nowParam()], budget))[0];
    let row: ReadRow | undefined;
    let run = EMPTY_RUN;
    if (cached !== undefined) {
      const count = cached.full ? 0 : maxMessages - cached.run.ends.length;
      row = await statement(cached.through, count, maxBytes - cached.run.bytes.byteLength);
      if (row !== undefined && row.id === id) {
        const fetched = runFromRow({ data: row.run_data, ends: row.run_ends });
        this.cache.put(row.id, cached.through, fetched, name);
        run = withCached(cached, fetched, maxBytes, maxMessages, !readOnly);
      } else row = undefined; // gone or made again: read it whole
    }
    if (row === undefined) {
      const whole = await statement(position, maxMessages, maxBytes);
      if (whole === undefined) return this.ops.read(name, fromOffset, opts);
      run = runFromRow({ data: whole.run_data, ends: whole.run_ends });
      this.cache.put(whole.id, position, run, name);
      row = whole;
    }
    return oneStatementRead(row, position, run, readOnly) ?? this.ops.read(name, fromOffset, opts);
  }
  head: StreamStore['head'] = (name, opts) => this.ops.head(name, opts);
  closeStream: StreamStore['closeStream'] = (name, opts) => this.ops.closeStream(name, opts);
  delete: StreamStore['delete'] = (name, opts) => this.ops.delete(name, opts);
  cleanupExpired: StreamStore['cleanupExpired'] = () => this.ops.cleanupExpired();
  wait: StreamStore['wait'] = (name, offset, timeoutMs, signal) => this.ops.wait(name, offset, timeoutMs, signal);

  override async prune(): Promise<number> {
    return this.cleanupExpired();
  }

  protected pruneSql(): Sql[] {
    return [];
  }

  protected override async onClose(): Promise<void> {
    this.ops.waiters.close();
    await this.listener.close();
  }
}
