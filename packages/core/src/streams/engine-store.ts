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
import type { ErrorSource } from '../errors.js';
import { validateDuration, validateKey, validateOptions } from '../validate.js';
import { StreamEngine, type StreamBackend } from './engine.js';
import { parseOffset } from './offsets.js';
import {
  validateAppendOptions,
  validateCreateOptions,
  validateMessages,
  validateProducer,
  validateReadOptions,
  validateStreamConfig,
} from './validate.js';
import { StreamWaiters, waitOutcome } from './waiters.js';

export interface EngineStreamOpsOptions {
  source: ErrorSource;
  backend: StreamBackend;
  /** The store's time; throws `UNAVAILABLE` once the store is closed. */
  now(): number;
  /** Runs one engine call as one atomic step (a transaction, or nothing in memory). */
  atomic<T>(fn: () => T): T;
  maxMessageBytes: number;
  /** Re-check waiters this often, to see appends made by other processes. */
  pollMs?: number;
  /** Told of every change that wakes waiters (so other stores on the same database can wake theirs). */
  onChange?: (name: string) => void;
}

/**
 * The StreamStore methods (validation, one atomic engine call, waking in-process waiters)
 * for stores whose backend is synchronous: memory and SQLite use it as is.
 */
export class EngineStreamOps implements Omit<StreamStore, 'close'> {
  private readonly engine: StreamEngine;
  readonly waiters = new StreamWaiters();

  constructor(private readonly o: EngineStreamOpsOptions) {
    this.engine = new StreamEngine(o.backend, o.source);
  }

  private changed(name: string): void {
    this.waiters.notify(name);
    this.o.onChange?.(name);
  }

  async create(name: string, config: StreamConfig, opts?: StreamCreateOptions): Promise<StreamCreateResult> {
    const now = this.o.now();
    validateKey(this.o.source, 'name', name);
    const { messages, fork } = validateCreateOptions(this.o.source, opts, this.o.maxMessageBytes);
    const cfg = validateStreamConfig(this.o.source, config, fork !== undefined);
    const result = this.o.atomic(() => this.engine.create(name, cfg, messages, fork, now));
    if (result.status === 'created') this.changed(name);
    return result;
  }

  async append(name: string, messages: readonly Uint8Array[], opts?: Parameters<StreamStore['append']>[2]): Promise<StreamAppendResult> {
    const now = this.o.now();
    validateKey(this.o.source, 'name', name);
    validateMessages(this.o.source, 'messages', messages, this.o.maxMessageBytes, false);
    const v = validateAppendOptions(this.o.source, opts);
    const result = this.o.atomic(() => this.engine.append(name, messages, v, now));
    if (!result.duplicate) this.changed(name);
    return result;
  }

  async read(name: string, fromOffset: string, opts?: StreamReadOptions): Promise<StreamReadResult> {
    const now = this.o.now();
    validateKey(this.o.source, 'name', name);
    const { maxBytes, maxMessages } = validateReadOptions(this.o.source, opts);
    return this.o.atomic(() => this.engine.read(name, fromOffset, maxBytes, maxMessages, now));
  }

  async head(name: string): Promise<StreamInfo | undefined> {
    const now = this.o.now();
    validateKey(this.o.source, 'name', name);
    return this.o.atomic(() => this.engine.head(name, now));
  }

  async closeStream(name: string, opts?: { producer?: StreamProducer }): Promise<StreamCloseResult> {
    const now = this.o.now();
    validateKey(this.o.source, 'name', name);
    const o = validateOptions<{ producer: StreamProducer }>(this.o.source, 'opts', opts);
    const producer = o.producer === undefined ? undefined : validateProducer(this.o.source, o.producer);
    const result = this.o.atomic(() => this.engine.closeStream(name, producer, now));
    this.changed(name);
    return result;
  }

  async delete(name: string): Promise<boolean> {
    const now = this.o.now();
    validateKey(this.o.source, 'name', name);
    const deleted = this.o.atomic(() => this.engine.delete(name, now));
    if (deleted) this.changed(name);
    return deleted;
  }

  async wait(name: string, offset: string, timeoutMs: number, signal?: AbortSignal): Promise<StreamWaitOutcome> {
    this.o.now();
    validateKey(this.o.source, 'name', name);
    const position = parseOffset(this.o.source, 'offset', offset);
    validateDuration(this.o.source, 'timeoutMs', timeoutMs);
    return this.waiters.wait(name, {
      check: () => waitOutcome(this.o.atomic(() => this.engine.tail(name, this.o.now())), position),
      timeoutMs,
      signal,
      pollMs: this.o.pollMs,
    });
  }

  /** Deletes expired streams in batches of `batch`; returns how many went. */
  async cleanupExpired(batch = 500): Promise<number> {
    const now = this.o.now();
    let total = 0;
    for (;;) {
      const { removed, more } = this.o.atomic(() => this.engine.cleanupBatch(now, batch));
      total += removed;
      if (!more) {
        if (total > 0) this.waiters.notifyAll();
        return total;
      }
    }
  }
}
