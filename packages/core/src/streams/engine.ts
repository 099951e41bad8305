import type {
  StreamAppendResult,
  StreamCloseResult,
  StreamCreateResult,
  StreamInfo,
  StreamProducer,
  StreamReadResult,
} from '../contracts/stream.js';
import type { ErrorSource } from '../errors.js';
import { backend, type StoredStream, type StreamOp } from './backend.js';
import { compareUtf8, formatOffset } from './offsets.js';
import { presence, pinned, removeTree } from './presence.js';
import { checkProducer, type ProducerState } from './producer.js';
import { EMPTY_RUN, fitting, joinRuns, type MessageRun, runPrefix, runReadResult } from './run.js';
import type { ValidatedAppendOptions, ValidatedFork, ValidatedStreamConfig } from './validate.js';
import type { TailSnapshot } from './waiters.js';

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

/** What `read` answers: `run` holds the messages after `position` of the live stream `s`. */
export function readResult(s: StoredStream, position: number, run: MessageRun, readOnly: boolean): StreamReadResult {
  const last = position + run.ends.length;
  return runReadResult(run, position, last, last === s.tail, streamInfo(s), readOnly);
}

/**
 * The reference StreamStore semantics, as operations ({@link StreamOp}) over a
 * {@link StreamBackend}: memory and SQLite run them synchronously, PostgreSQL inside a
 * transaction. Inputs are validated by the caller (see `./validate.ts`).
 */
export class StreamEngine {
  constructor(private readonly source: ErrorSource) {}

  /** The live stream, or the error a direct operation on `name` gets. */
  private *live(name: string, now: number): StreamOp<StoredStream> {
    const s = yield* backend.get(name);
    const p = yield* presence(s, now);
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

  *create(
    name: string,
    config: ValidatedStreamConfig,
    messages: readonly Uint8Array[],
    fork: ValidatedFork | undefined,
    now: number,
  ): StreamOp<StreamCreateResult> {
    const existing = yield* backend.get(name);
    const here = yield* presence(existing, now);
    if (here === 'gone') {
      throw this.source.error('CONFLICT', `stream ${name} was deleted but is kept for its forks; the name cannot be reused yet`, {
        details: { name, gone: true },
      });
    }
    if (here === 'live') {
      const src = fork === undefined ? undefined : yield* backend.get(fork.from);
      if (this.sameConfig(existing!, config, fork, src)) return { status: 'exists', info: streamInfo(existing!) };
      throw this.source.error('CONFLICT', `stream ${name} exists with another configuration`, { details: { name } });
    }
    // An absent stream may still be stored (expired, or kept for forks that have all gone):
    // clear it and its forks before the name is reused.
    if (existing !== undefined) yield* removeTree(existing, now);
    const src = fork === undefined ? undefined : yield* backend.get(fork.from);

    let contentType = config.contentType;
    let mediaType = config.mediaType;
    let ttlMs = config.ttlMs;
    let expiresAt = config.expiresAt;
    let tail = 0;
    if (fork !== undefined) {
      const srcPresence = yield* presence(src, now);
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
      yield* backend.update(source);
    }
    const stream: StoredStream = {
      id: yield* backend.newId(),
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
      yield* backend.append(stream.id, tail + 1, initial);
      stream.tail += initial.length;
    }
    yield* backend.insert(stream);
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
      const verdict = checkProducer(yield* backend.producer(s.id, opts.producer.id), opts.producer, s.closed);
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
    const previousOffset = formatOffset(s.tail);
    yield* backend.append(s.id, s.tail + 1, messages);
    s.tail += messages.length;
    if (opts.seq !== undefined) s.lastSeq = opts.seq;
    if (opts.close) s.closed = true;
    this.touch(s, now);
    yield* backend.update(s);
    const result: StreamAppendResult = {
      nextOffset: formatOffset(s.tail),
      duplicate: false,
      closed: s.closed,
      streamId: s.id,
      previousOffset,
    };
    if (accepted !== undefined) {
      yield* backend.setProducer(s.id, opts.producer!.id, accepted, now);
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

  /** `position` is the parsed `fromOffset` (a malformed one is refused before the stream is looked up). */
  *read(name: string, position: number, maxBytes: number, maxMessages: number, now: number, readOnly = false): StreamOp<StreamReadResult> {
    const s = yield* this.live(name, now);
    if (position > s.tail) {
      throw this.source.invalid(`offset ${formatOffset(position)} is past the tail ${formatOffset(s.tail)}`, { pastTail: true });
    }
    const run = yield* this.collect(s, position, maxBytes, maxMessages, readOnly);
    if (s.ttlMs !== undefined) {
      this.touch(s, now);
      yield* backend.update(s);
    }
    return readResult(s, position, run, readOnly);
  }

  /** Messages after `position`, through the fork chain (sources' data up to each fork point). */
  private *collect(s: StoredStream, position: number, maxBytes: number, maxMessages: number, readOnly = false): StreamOp<MessageRun> {
    const segments: { id: string; lo: number; hi: number }[] = [];
    let cur: StoredStream | undefined = s;
    let hi = s.tail;
    while (cur !== undefined && hi > position) {
      const lo = cur.forkPosition ?? 0;
      if (hi > lo) segments.push({ id: cur.id, lo, hi });
      if (cur.forkedFrom === undefined || lo <= position) break;
      hi = Math.min(hi, lo);
      // Peeked, not locked: its messages up to the fork point never change, and it cannot be
      // removed while the fork, which this operation holds, reads through it.
      cur = yield* backend.peek(cur.forkedFrom);
    }
    const runs: MessageRun[] = [];
    let count = 0;
    let bytes = 0;
    for (let i = segments.length - 1; i >= 0; i--) {
      const seg = segments[i]!;
      const after = Math.max(position, seg.lo);
      if (seg.hi <= after) continue;
      const left = maxMessages - count;
      if (left <= 0) break;
      const room = count === 0 ? maxBytes : maxBytes - bytes;
      if (room <= 0) break;
      const part = yield* backend.read(seg.id, after, seg.hi, room, left, readOnly);
      // A backend returns at least one message: past the first segment, it may not fit.
      const fit = count === 0 ? part.ends.length : fitting(part, room, false);
      if (fit > 0) {
        const taken = runPrefix(part, fit);
        runs.push(taken);
        count += fit;
        bytes += taken.bytes.byteLength;
      }
      if (fit < part.ends.length || part.ends.length === 0 || after + part.ends.length < seg.hi) break;
    }
    return runs.length === 0 ? EMPTY_RUN : joinRuns(runs);
  }

  *head(name: string, now: number): StreamOp<StreamInfo | undefined> {
    const s = yield* backend.get(name);
    return (yield* presence(s, now)) === 'live' ? streamInfo(s!) : undefined;
  }

  /** The live stream as a waiter sees it (its expiry too, which nothing notifies), or `undefined`. */
  *tail(name: string, now: number): StreamOp<TailSnapshot | undefined> {
    const s = yield* backend.get(name);
    if ((yield* presence(s, now)) !== 'live') return undefined;
    return { id: s!.id, tail: s!.tail, closed: s!.closed, expiresAt: s!.deadline, now };
  }

  *closeStream(name: string, producer: StreamProducer | undefined, now: number): StreamOp<StreamCloseResult> {
    const s = yield* this.live(name, now);
    const alreadyClosed = s.closed;
    let accepted: ProducerState | undefined;
    if (producer !== undefined) {
      const verdict = checkProducer(yield* backend.producer(s.id, producer.id), producer, s.closed);
      if (verdict.kind === 'duplicate') {
        return { nextOffset: formatOffset(s.tail), alreadyClosed, duplicate: true, producer: { ...verdict.state } };
      }
      if (verdict.kind === 'reject') throw this.rejectProducer(verdict, s);
      accepted = verdict.next;
      yield* backend.setProducer(s.id, producer.id, accepted, now);
    }
    s.closed = true;
    this.touch(s, now);
    yield* backend.update(s);
    const result: StreamCloseResult = { nextOffset: formatOffset(s.tail), alreadyClosed, duplicate: false };
    if (accepted !== undefined) result.producer = { ...accepted };
    return result;
  }

  *delete(name: string, now: number): StreamOp<boolean> {
    const s = yield* backend.get(name);
    const p = yield* presence(s, now);
    if (p === 'absent') return false;
    if (p === 'gone') {
      throw this.source.error('GONE', `stream ${name} was already deleted and is kept only for its forks`, {
        details: { name },
      });
    }
    // Kept, hidden, while a fork reads through it; otherwise it goes now with its expired forks.
    if (yield* pinned(s!, now)) {
      s!.deleted = true;
      yield* backend.update(s!);
    } else {
      yield* removeTree(s!, now);
    }
    return true;
  }

  /** One batch of expiry cleanup; returns the streams removed and whether more may remain. */
  *cleanupBatch(now: number, limit: number): StreamOp<{ removed: number; more: boolean }> {
    const batch = yield* backend.expired(now, limit);
    let removed = 0;
    for (const s of batch) {
      const fresh = yield* backend.get(s.name);
      if (fresh === undefined || fresh.id !== s.id) continue;
      if (yield* pinned(fresh, now)) {
        fresh.deleted = true;
        yield* backend.update(fresh);
      } else {
        removed += yield* removeTree(fresh, now);
      }
    }
    return { removed, more: batch.length === limit };
  }
}
