import type {
  StreamAppendResult,
  StreamCloseResult,
  StreamCreateResult,
  StreamInfo,
  StreamMessage,
  StreamProducer,
  StreamReadResult,
} from '../contracts/stream.js';
import type { ErrorSource } from '../errors.js';
import { compareUtf8, formatOffset, parseOffset } from './offsets.js';
import { checkProducer, type ProducerState } from './producer.js';
import type { ValidatedAppendOptions, ValidatedFork, ValidatedStreamConfig } from './validate.js';

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
  /** Live forks reading through this stream. */
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
  get(name: string): StoredStream | undefined;
  insert(stream: StoredStream): void;
  /** Writes every field of `stream` (found by `id`). */
  update(stream: StoredStream): void;
  /** Removes the stream's metadata, messages and producer states. */
  remove(stream: StoredStream): void;
  /** Stores `messages` at positions `first`, `first + 1`, ... */
  append(streamId: string, first: number, messages: readonly Uint8Array[]): void;
  /**
   * Own messages with `after < position <= upTo`, in order, stopping before the one that would
   * pass `maxBytes` (but returning at least one) or at `maxMessages`.
   */
  read(streamId: string, after: number, upTo: number, maxBytes: number, maxMessages: number): PositionedMessage[];
  producer(streamId: string, producerId: string): ProducerState | undefined;
  setProducer(streamId: string, producerId: string, state: ProducerState, now: number): void;
  /** Up to `limit` streams with `deadline <= now` and not `deleted`. */
  expired(now: number, limit: number): StoredStream[];
  newId(): string;
}

/** The same storage, asynchronous (PostgreSQL, inside one transaction). */
export type AsyncStreamBackend = {
  [K in keyof StreamBackend]: (...args: Parameters<StreamBackend[K]>) => Promise<ReturnType<StreamBackend[K]>>;
};

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
    const { method, args } = step.value;
    step = op.next((backend[method] as (...a: unknown[]) => unknown)(...args));
  }
  return step.value;
}

export async function runAsync<T>(op: StreamOp<T>, backend: AsyncStreamBackend): Promise<T> {
  let step = op.next();
  while (!step.done) {
    const { method, args } = step.value;
    step = op.next(await (backend[method] as (...a: unknown[]) => Promise<unknown>)(...args));
  }
  return step.value;
}

/** Typed `yield*`-able wrappers of the backend calls. */
const b = {
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
  *read(streamId: string, after: number, upTo: number, maxBytes: number, maxMessages: number): StreamOp<PositionedMessage[]> {
    return (yield { method: 'read', args: [streamId, after, upTo, maxBytes, maxMessages] }) as PositionedMessage[];
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
  *newId(): StreamOp<string> {
    return (yield { method: 'newId', args: [] }) as string;
  },
};

type Presence = 'absent' | 'live' | 'gone';

function isExpired(s: StoredStream, now: number): boolean {
  return s.deadline !== undefined && s.deadline <= now;
}

function deadlineOf(s: StoredStream): number | undefined {
  const idle = s.ttlMs === undefined ? undefined : s.accessedAt + s.ttlMs;
  if (idle === undefined) return s.expiresAt;
  return s.expiresAt === undefined ? idle : Math.min(idle, s.expiresAt);
}

/** The public view of a stored stream. */
export function streamInfo(s: StoredStream): StreamInfo {
  const info: StreamInfo = {
    id: s.id,
    contentType: s.contentType,
    closed: s.closed,
    nextOffset: formatOffset(s.tail),
    createdAt: s.createdAt,
  };
  if (s.ttlMs !== undefined) info.ttlMs = s.ttlMs;
  if (s.expiresAt !== undefined) info.expiresAt = s.expiresAt;
  if (s.forkedFrom !== undefined) {
    info.forkedFrom = s.forkedFrom;
    info.forkOffset = formatOffset(s.forkPosition ?? 0);
    if (s.forkSubOffset) info.forkSubOffset = s.forkSubOffset;
  }
  return info;
}

/**
 * The reference StreamStore semantics, as operations ({@link StreamOp}) over a
 * {@link StreamBackend}: memory and SQLite run them synchronously, PostgreSQL inside a
 * transaction. Inputs are validated by the caller (see `./validate.ts`).
 */
export class StreamEngine {
  constructor(private readonly source: ErrorSource) {}

  private presence(s: StoredStream | undefined, now: number): Presence {
    if (s === undefined) return 'absent';
    if (s.deleted) return 'gone';
    if (isExpired(s, now)) return s.refCount > 0 ? 'gone' : 'absent';
    return 'live';
  }

  /** The live stream, or the error a direct operation on `name` gets. */
  private *live(name: string, now: number): StreamOp<StoredStream> {
    const s = yield* b.get(name);
    const p = this.presence(s, now);
    if (p === 'live') return s!;
    if (p === 'gone') {
      throw this.source.error('GONE', `stream ${name} was deleted and is kept only for its forks`, {
        details: { name },
      });
    }
    throw this.source.error('NOT_FOUND', `stream ${name} does not exist`, { details: { name } });
  }

  private touch(s: StoredStream, now: number): void {
    if (now > s.accessedAt) s.accessedAt = now;
    s.deadline = deadlineOf(s);
  }

  /** Removes a stream and, when it was a source's last fork, the hidden source too. */
  private *removeCascade(s: StoredStream, now: number): StreamOp<number> {
    yield* b.remove(s);
    let removed = 1;
    let child = s;
    while (child.forkedFrom !== undefined) {
      const parent = yield* b.get(child.forkedFrom);
      if (parent === undefined) break;
      parent.refCount = Math.max(0, parent.refCount - 1);
      if (parent.refCount === 0 && (parent.deleted || isExpired(parent, now))) {
        yield* b.remove(parent);
        removed++;
        child = parent;
      } else {
        yield* b.update(parent);
        break;
      }
    }
    return removed;
  }

  *create(
    name: string,
    config: ValidatedStreamConfig,
    messages: readonly Uint8Array[],
    fork: ValidatedFork | undefined,
    now: number,
  ): StreamOp<StreamCreateResult> {
    const existing = yield* b.get(name);
    const presence = this.presence(existing, now);
    if (presence === 'gone') {
      throw this.source.error('CONFLICT', `stream ${name} was deleted but is kept for its forks; the name cannot be reused yet`, {
        details: { name, gone: true },
      });
    }
    if (presence === 'live') {
      const src = fork === undefined ? undefined : yield* b.get(fork.from);
      if (this.sameConfig(existing!, config, fork, src)) return { status: 'exists', info: streamInfo(existing!) };
      throw this.source.error('CONFLICT', `stream ${name} exists with another configuration`, { details: { name } });
    }
    // An expired stream without forks is absent: clear it before the name is reused.
    if (existing !== undefined) yield* this.removeCascade(existing, now);
    const src = fork === undefined ? undefined : yield* b.get(fork.from);

    let contentType = config.contentType;
    let mediaType = config.mediaType;
    let ttlMs = config.ttlMs;
    let expiresAt = config.expiresAt;
    let tail = 0;
    if (fork !== undefined) {
      const srcPresence = this.presence(src, now);
      if (srcPresence === 'absent') {
        throw this.source.error('NOT_FOUND', `fork source ${fork.from} does not exist`, { details: { name: fork.from } });
      }
      if (srcPresence === 'gone') {
        throw this.source.error('CONFLICT', `fork source ${fork.from} was deleted`, { details: { name: fork.from, gone: true } });
      }
      const source = src!;
      if (mediaType !== undefined && mediaType !== source.mediaType) {
        throw this.source.error('CONFLICT', `fork content type ${contentType} differs from the source's ${source.contentType}`);
      }
      tail = fork.position ?? source.tail;
      if (tail > source.tail) {
        throw this.source.invalid(`fork offset ${formatOffset(tail)} is past the source's tail ${formatOffset(source.tail)}`);
      }
      if (fork.subOffset > 0 && tail === source.tail) {
        throw this.source.invalid('a fork sub-offset needs a source message after the fork offset');
      }
      if (contentType === undefined) {
        contentType = source.contentType;
        mediaType = source.mediaType;
      }
      if (ttlMs === undefined && expiresAt === undefined) {
        ttlMs = source.ttlMs;
        expiresAt = source.expiresAt;
      }
      source.refCount++;
      yield* b.update(source);
    }
    const stream: StoredStream = {
      id: yield* b.newId(),
      name,
      contentType: contentType!,
      mediaType: mediaType!,
      ttlMs,
      expiresAt,
      createdAt: now,
      accessedAt: now,
      deadline: undefined,
      closed: config.closed,
      lastSeq: undefined,
      tail,
      forkedFrom: fork?.from,
      forkPosition: fork === undefined ? undefined : tail,
      forkSubOffset: fork !== undefined && fork.subOffset > 0 ? fork.subOffset : undefined,
      refCount: 0,
      deleted: false,
    };
    stream.deadline = deadlineOf(stream);
    const initial = fork?.prefix === undefined ? messages : [fork.prefix, ...messages];
    if (initial.length > 0) {
      yield* b.append(stream.id, tail + 1, initial);
      stream.tail += initial.length;
    }
    yield* b.insert(stream);
    return { status: 'created', info: streamInfo(stream) };
  }

  private sameConfig(
    s: StoredStream,
    config: ValidatedStreamConfig,
    fork: ValidatedFork | undefined,
    src: StoredStream | undefined,
  ): boolean {
    if (config.mediaType !== undefined ? config.mediaType !== s.mediaType : fork === undefined) return false;
    let ttlMs = config.ttlMs;
    let expiresAt = config.expiresAt;
    if (fork !== undefined && ttlMs === undefined && expiresAt === undefined && src !== undefined) {
      ttlMs = src.ttlMs;
      expiresAt = src.expiresAt;
    }
    if (ttlMs !== s.ttlMs || expiresAt !== s.expiresAt || config.closed !== s.closed) return false;
    if (fork?.from !== s.forkedFrom) return false;
    if (fork === undefined) return true;
    if (fork.position !== undefined && fork.position !== s.forkPosition) return false;
    return fork.subOffset === (s.forkSubOffset ?? 0);
  }

  *append(name: string, messages: readonly Uint8Array[], opts: ValidatedAppendOptions, now: number): StreamOp<StreamAppendResult> {
    const s = yield* this.live(name, now);
    if (opts.mediaType !== undefined && opts.mediaType !== s.mediaType) {
      throw this.source.error('CONFLICT', `content type ${opts.mediaType} does not match the stream's ${s.mediaType}`, {
        details: { contentType: true },
      });
    }
    let accepted: ProducerState | undefined;
    if (opts.producer !== undefined) {
      const verdict = checkProducer(yield* b.producer(s.id, opts.producer.id), opts.producer, s.closed);
      if (verdict.kind === 'duplicate') {
        return { nextOffset: formatOffset(s.tail), duplicate: true, closed: s.closed, producer: { ...verdict.state } };
      }
      if (verdict.kind === 'reject') throw this.rejectProducer(verdict, s);
      accepted = verdict.next;
    } else if (s.closed) {
      throw this.closedError(s);
    }
    if (opts.seq !== undefined && s.lastSeq !== undefined && compareUtf8(opts.seq, s.lastSeq) <= 0) {
      throw this.source.error('CONFLICT', `Stream-Seq ${opts.seq} is not after the last one, ${s.lastSeq}`, {
        details: { seqConflict: true, lastSeq: s.lastSeq },
      });
    }
    yield* b.append(s.id, s.tail + 1, messages);
    s.tail += messages.length;
    if (opts.seq !== undefined) s.lastSeq = opts.seq;
    if (opts.close) s.closed = true;
    this.touch(s, now);
    yield* b.update(s);
    const result: StreamAppendResult = { nextOffset: formatOffset(s.tail), duplicate: false, closed: s.closed };
    if (accepted !== undefined) {
      yield* b.setProducer(s.id, opts.producer!.id, accepted, now);
      result.producer = { ...accepted };
    }
    return result;
  }

  private closedError(s: StoredStream) {
    return this.source.error('CONFLICT', `stream ${s.name} is closed`, {
      details: { closed: true, nextOffset: formatOffset(s.tail) },
    });
  }

  private rejectProducer(verdict: Extract<ReturnType<typeof checkProducer>, { kind: 'reject' }>, s: StoredStream) {
    const details = verdict.details.closed ? { ...verdict.details, nextOffset: formatOffset(s.tail) } : verdict.details;
    return this.source.error(verdict.code, verdict.message, { details });
  }

  *read(name: string, from: string, maxBytes: number, maxMessages: number, now: number): StreamOp<StreamReadResult> {
    const s = yield* this.live(name, now);
    const position = parseOffset(this.source, 'fromOffset', from);
    if (position > s.tail) {
      throw this.source.invalid(`offset ${from} is past the tail ${formatOffset(s.tail)}`, { pastTail: true });
    }
    const messages = yield* this.collect(s, position, maxBytes, maxMessages);
    const last = messages.length === 0 ? position : messages[messages.length - 1]!.position;
    if (s.ttlMs !== undefined) {
      this.touch(s, now);
      yield* b.update(s);
    }
    return {
      messages: messages.map((m): StreamMessage => ({ offset: formatOffset(m.position), data: m.data })),
      nextOffset: formatOffset(last),
      atTail: last === s.tail,
      closed: s.closed,
      info: streamInfo(s),
    };
  }

  /** Messages after `position`, through the fork chain (sources' data up to each fork point). */
  private *collect(s: StoredStream, position: number, maxBytes: number, maxMessages: number): StreamOp<PositionedMessage[]> {
    const segments: { id: string; lo: number; hi: number }[] = [];
    let cur: StoredStream | undefined = s;
    let hi = s.tail;
    while (cur !== undefined && hi > position) {
      const lo = cur.forkPosition ?? 0;
      if (hi > lo) segments.push({ id: cur.id, lo, hi });
      if (cur.forkedFrom === undefined || lo <= position) break;
      hi = Math.min(hi, lo);
      cur = yield* b.get(cur.forkedFrom);
    }
    const out: PositionedMessage[] = [];
    let bytes = 0;
    for (let i = segments.length - 1; i >= 0; i--) {
      const seg = segments[i]!;
      const after = Math.max(position, seg.lo);
      if (seg.hi <= after) continue;
      const left = maxMessages - out.length;
      if (left <= 0) break;
      const room = out.length === 0 ? maxBytes : maxBytes - bytes;
      if (room <= 0) break;
      const part = yield* b.read(seg.id, after, seg.hi, room, left);
      for (const m of part) {
        if (out.length > 0 && bytes + m.data.byteLength > maxBytes) return out;
        out.push(m);
        bytes += m.data.byteLength;
      }
      if (part.length === 0 || part[part.length - 1]!.position < seg.hi) break;
    }
    return out;
  }

  *head(name: string, now: number): StreamOp<StreamInfo | undefined> {
    const s = yield* b.get(name);
    return this.presence(s, now) === 'live' ? streamInfo(s!) : undefined;
  }

  /** The live stream's tail and closed state, or `undefined` (for waiters). */
  *tail(name: string, now: number): StreamOp<{ tail: number; closed: boolean } | undefined> {
    const s = yield* b.get(name);
    if (this.presence(s, now) !== 'live') return undefined;
    return { tail: s!.tail, closed: s!.closed };
  }

  *closeStream(name: string, producer: StreamProducer | undefined, now: number): StreamOp<StreamCloseResult> {
    const s = yield* this.live(name, now);
    const alreadyClosed = s.closed;
    let accepted: ProducerState | undefined;
    if (producer !== undefined) {
      const verdict = checkProducer(yield* b.producer(s.id, producer.id), producer, s.closed);
      if (verdict.kind === 'duplicate') {
        return { nextOffset: formatOffset(s.tail), alreadyClosed, duplicate: true, producer: { ...verdict.state } };
      }
      if (verdict.kind === 'reject') throw this.rejectProducer(verdict, s);
      accepted = verdict.next;
      yield* b.setProducer(s.id, producer.id, accepted, now);
    }
    s.closed = true;
    this.touch(s, now);
    yield* b.update(s);
    const result: StreamCloseResult = { nextOffset: formatOffset(s.tail), alreadyClosed, duplicate: false };
    if (accepted !== undefined) result.producer = { ...accepted };
    return result;
  }

  *delete(name: string, now: number): StreamOp<boolean> {
    const s = yield* b.get(name);
    const p = this.presence(s, now);
    if (p === 'absent') return false;
    if (p === 'gone') {
      throw this.source.error('GONE', `stream ${name} was already deleted and is kept only for its forks`, {
        details: { name },
      });
    }
    if (s!.refCount > 0) {
      s!.deleted = true;
      yield* b.update(s!);
    } else {
      yield* this.removeCascade(s!, now);
    }
    return true;
  }

  /** One batch of expiry cleanup; returns the streams removed and whether more may remain. */
  *cleanupBatch(now: number, limit: number): StreamOp<{ removed: number; more: boolean }> {
    const batch = yield* b.expired(now, limit);
    let removed = 0;
    for (const s of batch) {
      const fresh = yield* b.get(s.name);
      if (fresh === undefined || fresh.id !== s.id) continue;
      if (fresh.refCount > 0) {
        fresh.deleted = true;
        yield* b.update(fresh);
      } else {
        removed += yield* this.removeCascade(fresh, now);
      }
    }
    return { removed, more: batch.length === limit };
  }
}
