import { STORE_CALLS } from '../call-options.js';
import type {
  StreamAppendResult,
  StreamCloseResult,
  StreamConfig,
  StreamCreateOptions,
  StreamCreateResult,
  StreamInfo,
  StreamProducer,
  StreamReadOptions,
  StreamReadResult,
  StreamStore,
  StreamWaitOutcome,
} from '../contracts/stream.js';
import type { CallOptions } from '../contracts/common.js';
import { deadlineOf } from '../deadline.js';
import type { ErrorSource } from '../errors.js';
import { validateDuration, validateKey, validateOptions } from '../validate.js';
import type { StreamOp } from './backend.js';
import { StreamEngine } from './engine.js';
import { parseOffset } from './offsets.js';
import {
  validateAppendOptions,
  validateCreateOptions,
  validateMessages,
  validateProducer,
  validateReadOptions,
  validateStreamConfig,
} from './validate.js';
import { type KnownTail, StreamWaiters, type TailSnapshot } from './waiters.js';

const CALLS = STORE_CALLS.stream;

export interface EngineStreamOpsOptions {
  source: ErrorSource;
  /** Throws `UNAVAILABLE` once the store is closed. */
  ensureOpen(): void;
  /**
   * Runs one engine operation as one atomic step (a transaction, or a synchronous section in
   * memory). `make` builds the operation for the time the step runs at: the store's clock,
   * or a backend's own clock read inside the step. `deadline` is the caller's, validated
   * (`undefined` for `cleanupExpired` and waiters): the step must honour it as every
   * contract method does (see `CallOptions`).
   */
  atomic<T>(make: (now: number) => StreamOp<T>, deadline: number | undefined): T | Promise<T>;
  /** Runs an operation that only reads (`head`, waiters' checks). @default atomic */
  atomicRead?<T>(make: (now: number) => StreamOp<T>, deadline: number | undefined): T | Promise<T>;
  maxMessageBytes: number;
  /** Re-check waiters this often, to see appends made by other processes. */
  pollMs?: number;
  /** Told of every change that wakes waiters (so other stores on the same database can wake theirs). */
  onChange?: (name: string) => void;
  /**
   * Called by `wait` once its arguments are valid and the store open, before its first look:
   * starts what wakes waiters on other processes' changes (polling, LISTEN). A promise (never
   * rejecting) while that is still being set up: the first look does not wait for it, as it
   * fixes the stream (its `id`) waited on as it is at the call, and one more look follows when
   * it settles, so a change made meanwhile is not missed. Nothing once it is up: one look.
   */
  beforeWait?: () => void | Promise<void> | undefined;
  /**
   * How a waiter looks at a stream, when the store has a cheaper way than the engine's `tail`
   * (one statement instead of a read-only operation). Same answer: the live stream, or
   * `undefined` when missing, expired or hidden for its forks.
   */
  look?: (name: string) => Promise<TailSnapshot | undefined>;
}

/**
 * The StreamStore methods around the shared engine: validation, one atomic engine
 * operation, waking in-process waiters. Memory, SQLite and PostgreSQL use it; they differ
 * only in how an operation runs. Checks in the order of every contract (see `common.ts`):
 * every argument, then the store (`ensureOpen`), then the deadline (`atomic`), then the stream.
 */
export class EngineStreamOps implements Omit<StreamStore, 'close'> {
  private readonly engine: StreamEngine;
  readonly waiters = new StreamWaiters();

  constructor(private readonly o: EngineStreamOpsOptions) {
    this.engine = new StreamEngine(o.source);
  }

  private readOnly<T>(make: (now: number) => StreamOp<T>, deadline: number | undefined): T | Promise<T> {
    return this.o.atomicRead === undefined ? this.o.atomic(make, deadline) : this.o.atomicRead(make, deadline);
  }

  private changed(name: string): void {
    this.waiters.notify(name);
    this.o.onChange?.(name);
  }

  /** A change the store made without the engine and announced to other processes itself: wakes this process's waiters. */
  changedHere(name: string, change?: KnownTail): void {
    this.waiters.notify(name, change);
  }

  async create(name: string, config: StreamConfig, opts?: StreamCreateOptions): Promise<StreamCreateResult> {
    validateKey(this.o.source, 'name', name);
    const { messages, fork } = validateCreateOptions(this.o.source, opts, this.o.maxMessageBytes);
    const cfg = validateStreamConfig(this.o.source, config, fork !== undefined);
    const deadline = deadlineOf(this.o.source, opts, CALLS.create);
    this.o.ensureOpen();
    const result = await this.o.atomic((now) => this.engine.create(name, cfg, messages, fork, now), deadline);
    if (result.status === 'created') this.changed(name);
    return result;
  }

  async append(name: string, messages: readonly Uint8Array[], opts?: Parameters<StreamStore['append']>[2]): Promise<StreamAppendResult> {
    validateKey(this.o.source, 'name', name);
    validateMessages(this.o.source, 'messages', messages, this.o.maxMessageBytes, false);
    const v = validateAppendOptions(this.o.source, opts);
    const deadline = deadlineOf(this.o.source, opts, CALLS.append);
    this.o.ensureOpen();
    const result = await this.o.atomic((now) => this.engine.append(name, messages, v, now), deadline);
    if (!result.duplicate) this.changed(name);
    return result;
  }

  async read(name: string, fromOffset: string, opts?: StreamReadOptions): Promise<StreamReadResult> {
    validateKey(this.o.source, 'name', name);
    // A malformed offset is refused before the stream is looked up; one past the tail only
    // the stream can tell (INVALID_ARGUMENT too, from the engine).
    const position = parseOffset(this.o.source, 'fromOffset', fromOffset);
    const { maxBytes, maxMessages, readOnly } = validateReadOptions(this.o.source, opts);
    const deadline = deadlineOf(this.o.source, opts, CALLS.read);
    this.o.ensureOpen();
    return this.o.atomic((now) => this.engine.read(name, position, maxBytes, maxMessages, now, readOnly), deadline);
  }

  async head(name: string, opts?: CallOptions): Promise<StreamInfo | undefined> {
    validateKey(this.o.source, 'name', name);
    const deadline = deadlineOf(this.o.source, opts, CALLS.head);
    this.o.ensureOpen();
    return this.readOnly((now) => this.engine.head(name, now), deadline);
  }

  async closeStream(name: string, opts?: { producer?: StreamProducer } & CallOptions): Promise<StreamCloseResult> {
    validateKey(this.o.source, 'name', name);
    const o = validateOptions<{ producer: StreamProducer }>(this.o.source, 'opts', opts);
    const producer = o.producer === undefined ? undefined : validateProducer(this.o.source, o.producer);
    const deadline = deadlineOf(this.o.source, opts, CALLS.closeStream);
    this.o.ensureOpen();
    const result = await this.o.atomic((now) => this.engine.closeStream(name, producer, now), deadline);
    this.changed(name);
    return result;
  }

  async delete(name: string, opts?: CallOptions): Promise<boolean> {
    validateKey(this.o.source, 'name', name);
    const deadline = deadlineOf(this.o.source, opts, CALLS.delete);
    this.o.ensureOpen();
    const deleted = await this.o.atomic((now) => this.engine.delete(name, now), deadline);
    if (deleted) this.changed(name);
    return deleted;
  }

  async wait(name: string, offset: string, timeoutMs: number, signal?: AbortSignal): Promise<StreamWaitOutcome> {
    validateKey(this.o.source, 'name', name);
    const position = parseOffset(this.o.source, 'offset', offset);
    validateDuration(this.o.source, 'timeoutMs', timeoutMs);
    this.o.ensureOpen();
    const ready = this.o.beforeWait?.();
    return this.waiters.wait(name, {
      look: this.o.look === undefined ? () => this.readOnly((now) => this.engine.tail(name, now), undefined) : () => this.o.look!(name),
      position,
      timeoutMs,
      signal,
      pollMs: this.o.pollMs,
      ready: ready ?? undefined,
    });
  }

  /** Deletes expired streams in batches of `batch`; returns how many went. */
  async cleanupExpired(batch = 500): Promise<number> {
    this.o.ensureOpen();
    let total = 0;
    // Bounded by what has expired: each batch deletes up to `batch` expired streams, and the
    // first batch that leaves none behind is the last.
    for (;;) {
      const { removed, more } = await this.o.atomic((now) => this.engine.cleanupBatch(now, batch), undefined);
      total += removed;
      if (!more) {
        if (total > 0) this.waiters.notifyAll();
        return total;
      }
    }
  }
}
