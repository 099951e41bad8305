import type { BackgroundErrorHandler, StreamStore } from '@stowage/core';
import {
  EngineStreamOps,
  runSync,
  type MessageRun,
  type ProducerState,
  type StoredStream,
  type StreamBackend,
  sizeLimit,
  type StreamSizeOptions,
  type OwnOptionNames,
} from '@stowage/core/adapter-kit';
import { MemoryStoreBase, type MemoryStoreOptions } from './base.js';
import { MessageLog } from './message-log.js';

export interface MemoryStreamStoreOptions extends Omit<MemoryStoreOptions, 'maxEntries'>, StreamSizeOptions {
  /**
   * Receives each failure of the background cleanup (operation `cleanupExpired`); see {@link BackgroundErrorHandler}.
   * @default one `console.error` line with the store, the operation, the error's code and message
   */
  onError?: BackgroundErrorHandler;
}

/** Streams in maps: metadata by name, own messages by stream id (positions are contiguous). */
class MemoryStreamBackend implements StreamBackend {
  private readonly streams = new Map<string, StoredStream>();
  private readonly messages = new Map<string, MessageLog>();
  private readonly producers = new Map<string, Map<string, ProducerState>>();
  /** The forks of each source name (a name is reused only once its forks are gone). */
  private readonly forksOf = new Map<string, Set<StoredStream>>();
  private seq = 0;

  get(name: string): StoredStream | undefined {
    return this.streams.get(name);
  }
  insert(stream: StoredStream): void {
    this.streams.set(stream.name, stream);
    if (stream.forkedFrom === undefined) return;
    let forks = this.forksOf.get(stream.forkedFrom);
    if (forks === undefined) this.forksOf.set(stream.forkedFrom, (forks = new Set()));
    forks.add(stream);
  }
  update(): void {
    // `get` hands out the stored object itself: the engine's changes are already in place.
  }
  remove(stream: StoredStream): void {
    if (this.streams.get(stream.name) === stream) this.streams.delete(stream.name);
    this.messages.delete(stream.id);
    this.producers.delete(stream.id);
    if (stream.forkedFrom === undefined) return;
    const forks = this.forksOf.get(stream.forkedFrom);
    forks?.delete(stream);
    if (forks?.size === 0) this.forksOf.delete(stream.forkedFrom);
  }
  forks(name: string): StoredStream[] {
    const forks = this.forksOf.get(name);
    return forks === undefined ? [] : [...forks];
  }
  append(streamId: string, first: number, messages: readonly Uint8Array[]): void {
    let log = this.messages.get(streamId);
    if (log === undefined) this.messages.set(streamId, (log = new MessageLog(first - 1)));
    log.append(messages);
  }
  read(streamId: string, after: number, upTo: number, maxBytes: number, maxMessages: number, readOnly = false): MessageRun {
    const log = this.messages.get(streamId);
    return log === undefined ? { bytes: new Uint8Array(0), ends: [] } : log.read(after, upTo, maxBytes, maxMessages, readOnly);
  }
  producer(streamId: string, producerId: string): ProducerState | undefined {
    const p = this.producers.get(streamId)?.get(producerId);
    return p === undefined ? undefined : { ...p };
  }
  setProducer(streamId: string, producerId: string, state: ProducerState): void {
    let map = this.producers.get(streamId);
    if (map === undefined) this.producers.set(streamId, (map = new Map()));
    map.set(producerId, { ...state });
  }
  expired(now: number, limit: number): StoredStream[] {
    const out: StoredStream[] = [];
    for (const s of this.streams.values()) {
      if (out.length >= limit) break;
      if (!s.deleted && s.deadline !== undefined && s.deadline <= now) out.push(s);
    }
    return out;
  }
  newId(): string {
    return `m${(++this.seq).toString(36)}`;
  }
  clear(): void {
    this.streams.clear();
    this.messages.clear();
    this.producers.clear();
    this.forksOf.clear();
  }
}

/** This store's options beyond the backend's. */
const OWN_OPTIONS: OwnOptionNames<MemoryStreamStoreOptions, MemoryStoreOptions> = { maxMessageBytes: true, maxEntries: false };

/** {@link StreamStore} in process memory. Streams live until deleted or expired. */
export class MemoryStreamStore extends MemoryStoreBase implements StreamStore {
  private readonly backend = new MemoryStreamBackend();
  private readonly ops: EngineStreamOps;
  constructor(options: MemoryStreamStoreOptions = {}) {
    super('MemoryStreamStore', options, OWN_OPTIONS);
    const maxMessageBytes = sizeLimit(this.source, options, 'maxMessageBytes');
    this.ops = new EngineStreamOps({
      source: this.source,
      ensureOpen: () => void this.now(),
      // One synchronous section: nothing else runs in this process until it returns.
      atomic: (make, deadline) => runSync(make(this.begin(deadline === undefined ? undefined : { deadline })), this.backend),
      maxMessageBytes,
    });
    this.instrument('stream');
  }

  create: StreamStore['create'] = (name, config, opts) => this.ops.create(name, config, opts);
  append: StreamStore['append'] = (name, messages, opts) => this.ops.append(name, messages, opts);
  read: StreamStore['read'] = (name, from, opts) => this.ops.read(name, from, opts);
  head: StreamStore['head'] = (name, opts) => this.ops.head(name, opts);
  closeStream: StreamStore['closeStream'] = (name, opts) => this.ops.closeStream(name, opts);
  delete: StreamStore['delete'] = (name, opts) => this.ops.delete(name, opts);
  wait: StreamStore['wait'] = (name, offset, timeoutMs, signal) => this.ops.wait(name, offset, timeoutMs, signal);
  cleanupExpired: StreamStore['cleanupExpired'] = () => this.ops.cleanupExpired();

  protected override get sweepOperation(): string {
    return 'cleanupExpired';
  }

  protected sweep(): number {
    // Expired streams are removed through the engine (forks keep their sources).
    void this.ops.cleanupExpired().catch((err: unknown) => this.report(err, 'cleanupExpired'));
    return 0;
  }

  override async prune(): Promise<number> {
    return this.ops.cleanupExpired();
  }

  protected override onClose(): void {
    this.ops.waiters.close();
    this.backend.clear();
  }
}
