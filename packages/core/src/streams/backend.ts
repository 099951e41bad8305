// The storage a StreamEngine runs on, and how an engine operation drives it.

import type { ProducerState } from './producer.js';
import type { MessageRun } from './run.js';

/** A stream's metadata as a synchronous backend keeps it. */
export interface StoredStream {
  /** Unique per incarnation of the name. */
  id: string;
  name: string;
  contentType: string;
  mediaType: string;
  ttlMs: number | undefined;
  expiresAt: number | undefined;
  createdAt: number;
  /** Last read, append or close (renews an idle TTL). */
  accessedAt: number;
  /** When the stream expires: `min(expiresAt, accessedAt + ttlMs)`; `undefined` for never. */
  deadline: number | undefined;
  closed: boolean;
  /** Last `Stream-Seq` accepted. */
  lastSeq: string | undefined;
  /** Position of the last message, inherited ones included. */
  tail: number;
  forkedFrom: string | undefined;
  forkPosition: number | undefined;
  forkSubOffset: number | undefined;
  /** Stored forks of this stream (live, expired but not yet cleaned up, or kept for forks of their own). */
  refCount: number;
  /** Deleted or expired, kept only for its forks. */
  deleted: boolean;
}

/** A message at a position. */
export interface PositionedMessage {
  position: number;
  data: Uint8Array;
}

/**
 * The storage a {@link StreamEngine} runs on. Every method is synchronous; the caller makes
 * one engine call atomic (a synchronous section in memory, one `BEGIN IMMEDIATE`
 * transaction in SQLite).
 */
export interface StreamBackend {
  /** The stream stored under `name`; a backend with row locks (PostgreSQL) locks it until the operation ends. */
  get(name: string): StoredStream | undefined;
  /**
   * As `get`, without taking a lock. The engine peeks only at rows that cannot change in a
   * way it depends on while it runs (a fork's sources, whose data up to the fork point is
   * fixed and which cannot go while the fork is held), or when it writes nothing. Locking
   * in both directions of a fork chain (a fork's read, a deleted source's read) would
   * deadlock. Optional: `get` stands in for it.
   */
  peek?(name: string): StoredStream | undefined;
  insert(stream: StoredStream): void;
  /** Writes every field of `stream` (found by `id`). */
  update(stream: StoredStream): void;
  /** Removes the stream's metadata, messages and producer states. */
  remove(stream: StoredStream): void;
  /** Stores `messages` at positions `first`, `first + 1`, ... */
  append(streamId: string, first: number, messages: readonly Uint8Array[]): void;
  /**
   * Own messages with `after < position <= upTo`, in order, stopping before the one that would
   * pass `maxBytes` (but returning at least one) or at `maxMessages`: one run, the first
   * message at `after + 1` (positions are contiguous). The run's bytes are the caller's own,
   * or with `readOnly` (see `StreamReadOptions`) may be a view of memory the backend keeps.
   */
  read(streamId: string, after: number, upTo: number, maxBytes: number, maxMessages: number, readOnly?: boolean): MessageRun;
  producer(streamId: string, producerId: string): ProducerState | undefined;
  setProducer(streamId: string, producerId: string, state: ProducerState, now: number): void;
  /** Up to `limit` streams with `deadline <= now` and not `deleted`. */
  expired(now: number, limit: number): StoredStream[];
  /** The streams forked from `name` (its stored incarnation: a name is reused only once its forks are gone). */
  forks(name: string): StoredStream[];
  /** As `forks`, without taking locks (see `peek`). Optional: `forks` stands in for it. */
  peekForks?(name: string): StoredStream[];
  newId(): string;
}

/** The same storage, asynchronous (PostgreSQL, inside one transaction). */
export type AsyncStreamBackend = {
  [K in keyof StreamBackend]: (...args: Parameters<NonNullable<StreamBackend[K]>>) => Promise<ReturnType<NonNullable<StreamBackend[K]>>>;
};

/** What stands in for an optional backend method its backend leaves out. */
const STAND_IN: Partial<Record<keyof StreamBackend, keyof StreamBackend>> = { peek: 'get', peekForks: 'forks' };

function perform(backend: StreamBackend | AsyncStreamBackend, call: BackendCall): unknown {
  const fn = (backend[call.method] ?? backend[STAND_IN[call.method]!]) as (...a: unknown[]) => unknown;
  return fn.apply(backend, call.args);
}

/** A backend call the engine yields; its driver performs it and sends the result back. */
export interface BackendCall {
  method: keyof StreamBackend;
  args: unknown[];
}

/**
 * An engine operation: a generator that yields backend calls. One operation runs unchanged
 * over a synchronous backend ({@link runSync}, inside one SQLite transaction or one
 * synchronous section in memory) or an asynchronous one ({@link runAsync}, inside one
 * PostgreSQL transaction).
 */
export type StreamOp<T> = Generator<BackendCall, T, unknown>;

export function runSync<T>(op: StreamOp<T>, backend: StreamBackend): T {
  let step = op.next();
  while (!step.done) {
    step = op.next(perform(backend, step.value));
  }
  return step.value;
}

export async function runAsync<T>(op: StreamOp<T>, backend: AsyncStreamBackend): Promise<T> {
  let step = op.next();
  while (!step.done) {
    step = op.next(await perform(backend, step.value));
  }
  return step.value;
}

/** Typed `yield*`-able wrappers of the backend calls. */
export const backend = {
  *get(name: string): StreamOp<StoredStream | undefined> {
    return (yield { method: 'get', args: [name] }) as StoredStream | undefined;
  },
  *insert(stream: StoredStream): StreamOp<void> {
    yield { method: 'insert', args: [stream] };
  },
  *update(stream: StoredStream): StreamOp<void> {
    yield { method: 'update', args: [stream] };
  },
  *remove(stream: StoredStream): StreamOp<void> {
    yield { method: 'remove', args: [stream] };
  },
  *append(streamId: string, first: number, messages: readonly Uint8Array[]): StreamOp<void> {
    yield { method: 'append', args: [streamId, first, messages] };
  },
  *read(streamId: string, after: number, upTo: number, maxBytes: number, maxMessages: number, readOnly = false): StreamOp<MessageRun> {
    return (yield { method: 'read', args: [streamId, after, upTo, maxBytes, maxMessages, readOnly] }) as MessageRun;
  },
  *producer(streamId: string, producerId: string): StreamOp<ProducerState | undefined> {
    return (yield { method: 'producer', args: [streamId, producerId] }) as ProducerState | undefined;
  },
  *setProducer(streamId: string, producerId: string, state: ProducerState, now: number): StreamOp<void> {
    yield { method: 'setProducer', args: [streamId, producerId, state, now] };
  },
  *expired(now: number, limit: number): StreamOp<StoredStream[]> {
    return (yield { method: 'expired', args: [now, limit] }) as StoredStream[];
  },
  *forks(name: string): StreamOp<StoredStream[]> {
    return (yield { method: 'forks', args: [name] }) as StoredStream[];
  },
  *peek(name: string): StreamOp<StoredStream | undefined> {
    return (yield { method: 'peek', args: [name] }) as StoredStream | undefined;
  },
  *peekForks(name: string): StreamOp<StoredStream[]> {
    return (yield { method: 'peekForks', args: [name] }) as StoredStream[];
  },
  *newId(): StreamOp<string> {
    return (yield { method: 'newId', args: [] }) as string;
  },
};
