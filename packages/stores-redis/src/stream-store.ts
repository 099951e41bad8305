import { randomUUID } from 'node:crypto';
import {
  type CallOptions,
  StowageError,
  type StowageErrorCode,
  type StreamAppendResult,
  type StreamCloseResult,
  type StreamCreateResult,
  type StreamInfo,
  type StreamProducer,
  type StreamReadResult,
  type StreamStore,
  type StreamWaitOutcome,
} from '@stowage/core';
import {
  STORE_CALLS,
  deadlineOf,
  formatOffset,
  parseOffset,
  runReadResult,
  StreamWaiters,
  validateAppendOptions,
  validateCreateOptions,
  validateDuration,
  validateKey,
  validateMessages,
  validateOptions,
  validateProducer,
  validateReadOptions,
  validateStreamConfig,
  sizeLimit,
  type StreamSizeOptions,
  type MessageRun,
  StreamReadCache,
  type StreamReadCacheOptions,
  withCached,
  type OwnOptionNames,
} from '@stowage/core/adapter-kit';
import { knownDownError, RedisStoreBase, Script, type RedisStoreOptions } from './base.js';
import { StreamSubscriber } from './stream-subscriber.js';

const CALLS = STORE_CALLS.stream;

export interface RedisStreamStoreOptions extends RedisStoreOptions, StreamSizeOptions, StreamReadCacheOptions {}

// Lua has no imports: the parts of the stream script, one idea each, joined in this order.
const STREAM = new Script('stream', [
  'stream/records',
  'stream/presence',
  'stream/removal',
  'stream/producers',
  'stream/create',
  'stream/append',
  'stream/read',
  'stream/dispatch',
]);
type Reply = (Buffer | number | Reply)[];

/**
 * Most bytes of one read script (more when one message is larger). Redis spends about 5 ms per
 * MiB returned, all of it on its one thread.
 */
const READ_PART_BYTES = 1 << 20;

interface ReadRun {
  run: MessageRun;
  last: number;
  atTail: boolean;
  info: StreamInfo;
}

interface ReadPart {
  data: Buffer[];
  bytes: number;
  ends: number[];
  last: number;
  atTail: boolean;
  info: StreamInfo;
}

const str = (v: Buffer | number | Reply | undefined): string => (v === undefined ? '' : Buffer.isBuffer(v) ? v.toString() : String(v));
const num = (v: Buffer | number | Reply | undefined): number => Number(str(v));

function toInfo(v: Reply): StreamInfo {
  const info: StreamInfo = {
    id: str(v[0]),
    contentType: str(v[1]),
    closed: str(v[4]) === '1',
    nextOffset: formatOffset(num(v[5])),
    createdAt: num(v[6]),
  };
  if (str(v[2]) !== '') info.ttlMs = num(v[2]);
  if (str(v[3]) !== '') info.expiresAt = num(v[3]);
  if (str(v[7]) !== '') {
    info.forkedFrom = str(v[7]);
    info.forkOffset = formatOffset(num(v[8]));
    if (str(v[9]) !== '') info.forkSubOffset = num(v[9]);
  }
  return info;
}

/** This store's options beyond the backend's. */
const OWN_OPTIONS: OwnOptionNames<RedisStreamStoreOptions, RedisStoreOptions> = { maxMessageBytes: true, readCacheBytes: true };

/**
 * {@link StreamStore} on Redis: the rules of core's `StreamEngine` in one Lua script
 * (`scripts/stream/*.lua`), one call per operation. A stream is a hash of metadata, a list of
 * messages and a hash of producer states; a sorted set of deadlines feeds `cleanupExpired`.
 *
 * Every key of one store shares the hash tag `{streams}` (after the prefix), so a fork reads
 * its sources inside one script on Redis Cluster too: a store's streams live on one Cluster
 * node (spread load with several prefixes). A source also keeps the set of its forks' names,
 * so it knows at once when none reads through it any more. Streams are not expired by Redis
 * itself (a source must outlive its forks): `cleanupExpired()` (or `prune()`) removes them.
 *
 * `wait` wakes through pub/sub: every change publishes the stream's name on
 * `<prefix>{streams}:events` from inside the script, and one subscriber connection per
 * store (a duplicate of the client) wakes the waiters. Both drivers resubscribe it after a
 * reconnect (ioredis's `autoResubscribe`, forced on for the duplicate). A change made through this
 * store also wakes this process's waiters at once, so they do not depend on the subscriber;
 * a failed subscribe is tried again by the next wait. The subscriber's failures go to `onError`
 * once per outage (see `StreamSubscriber`).
 * An expiry publishes nothing: each look tells the waiter when the stream expires (on the
 * store's clock), and it looks again then.
 */
export class RedisStreamStore extends RedisStoreBase implements StreamStore {
  private readonly maxMessageBytes: number;
  private readonly waiters = new StreamWaiters();
  private readonly keyPrefix: string;
  private readonly subscriber: StreamSubscriber;
  private readonly cache: StreamReadCache;
  private readonly unwatchDown: () => void;

  constructor(options: RedisStreamStoreOptions) {
    super('RedisStreamStore', options, OWN_OPTIONS);
    this.maxMessageBytes = sizeLimit(this.source, options, 'maxMessageBytes');
    this.cache = StreamReadCache.of(this.source, options);
    this.keyPrefix = `${this.prefix}{streams}:`;
    this.subscriber = new StreamSubscriber({
      connection: this.connection,
      source: this.source,
      channel: `${this.keyPrefix}events`,
      waiters: this.waiters,
      report: this.report,
      timeoutMs: this.timeoutMs,
    });
    // Known down, every pending wait ends UNAVAILABLE at once instead of waiting out its own
    // time limit deaf (and then answering "nothing new"), even one whose look is in flight
    // (ioredis resends that after the reconnect). The listener, held by the client's watcher,
    // holds no store: a store its user drops unclosed is collected, and its listener removed.
    const { waiters, source, reachability, connection } = this;
    this.unwatchDown = reachability.onDown(() => waiters.failAll(knownDownError(source, reachability, connection)));
    dropped.register(this, this.unwatchDown, this);
    this.instrument('stream');
  }

  private async call(op: string, args: unknown[], deadline: number | undefined): Promise<Reply> {
    const r = await this.run<Reply>(STREAM, [`${this.keyPrefix}x`], [this.keyPrefix, op, ...args], deadline, true);
    if (str(r[0]) === 'err') {
      const details = JSON.parse(str(r[3])) as Record<string, unknown>;
      if (typeof details.nextOffset === 'number') details.nextOffset = formatOffset(details.nextOffset);
      throw this.source.error(str(r[1]) as StowageErrorCode, str(r[2]), { details });
    }
    return r;
  }

  async create(
    name: string,
    config: Parameters<StreamStore['create']>[1],
    opts?: Parameters<StreamStore['create']>[2],
  ): Promise<StreamCreateResult> {
    validateKey(this.source, 'name', name);
    const { messages, fork } = validateCreateOptions(this.source, opts, this.maxMessageBytes);
    const c = validateStreamConfig(this.source, config, fork !== undefined);
    const deadline = deadlineOf(this.source, opts, CALLS.create);
    const initial = fork?.prefix === undefined ? messages : [fork.prefix, ...messages];
    const args = [
      name,
      c.contentType ?? '',
      c.mediaType ?? '',
      c.ttlMs ?? '',
      c.expiresAt ?? '',
      c.closed ? '1' : '0',
      fork?.from ?? '',
      fork?.position ?? '',
      fork?.subOffset ?? 0,
      fork?.prefix === undefined ? '0' : '1',
      initial.length,
      randomUUID(),
      ...initial.map(buf),
    ];
    const r = await this.call('create', args, deadline);
    return { status: str(r[0]) as 'created' | 'exists', info: toInfo(r[1] as Reply) };
  }

  async append(name: string, messages: readonly Uint8Array[], opts?: Parameters<StreamStore['append']>[2]): Promise<StreamAppendResult> {
    validateKey(this.source, 'name', name);
    validateMessages(this.source, 'messages', messages, this.maxMessageBytes, false);
    const o = validateAppendOptions(this.source, opts);
    const deadline = deadlineOf(this.source, opts, CALLS.append);
    const p = o.producer;
    const args = [name, o.mediaType ?? '', o.seq ?? '', p?.id ?? '', p?.epoch ?? 0, p?.seq ?? 0, o.close ? '1' : '0', ...messages.map(buf)];
    const r = await this.call('append', args, deadline);
    const duplicate = str(r[0]) === 'duplicate';
    // Our own waiters, even while the subscriber is down; those on this stream below the new
    // tail without a look.
    this.waiters.notify(name, duplicate ? undefined : { id: str(r[5]), tail: num(r[1]) });
    const result: StreamAppendResult = {
      nextOffset: formatOffset(num(r[1])),
      duplicate,
      closed: str(r[2]) === '1',
    };
    if (str(r[3]) !== '') result.producer = { epoch: num(r[3]), seq: num(r[4]) };
    if (!duplicate) {
      result.streamId = str(r[5]);
      result.previousOffset = formatOffset(num(r[1]) - messages.length);
    }
    return result;
  }

  /**
   * Messages this store has read before come from its cache (`readCacheBytes`): the script then
   * reads the stream's record (and renews an idle TTL) and only the messages after them.
   */
  async read(name: string, fromOffset: string, opts?: Parameters<StreamStore['read']>[2]): Promise<StreamReadResult> {
    validateKey(this.source, 'name', name);
    const { maxBytes, maxMessages, readOnly } = validateReadOptions(this.source, opts);
    const position = parseOffset(this.source, 'fromOffset', fromOffset);
    const deadline = deadlineOf(this.source, opts, CALLS.read);
    const id = this.cache.idOf(name);
    const cached = id === undefined ? undefined : this.cache.get(id, position, maxBytes, maxMessages);
    if (cached !== undefined && cached.run.ends.length > 0) {
      const { bytes, ends } = cached.run;
      const left = cached.full ? 0 : maxMessages - ends.length;
      // Past the tail, or another id: the name is another stream now (deleted and made again),
      // read it whole. Any other refusal is the name's, whichever stream it is.
      const rest = await this.readFrom(name, cached.through, maxBytes - bytes.byteLength, left, deadline).catch((err: unknown) => {
        if (err instanceof StowageError && err.code === 'INVALID_ARGUMENT') return undefined;
        throw err;
      });
      if (rest !== undefined && rest.info.id === id) {
        this.cache.put(id, cached.through, rest.run, name);
        const run = withCached(cached, rest.run, maxBytes, maxMessages, !readOnly);
        const last = position + run.ends.length;
        return runReadResult(run, position, last, last === cached.through + rest.run.ends.length && rest.atTail, rest.info, readOnly);
      }
    }
    const whole = await this.readFrom(name, position, maxBytes, maxMessages, deadline);
    this.cache.put(whole.info.id, position, whole.run, name);
    return runReadResult(whole.run, position, whole.last, whole.atTail, whole.info, readOnly);
  }

  /** Messages after `position`, in parts of at most {@link READ_PART_BYTES}. */
  private async readFrom(name: string, position: number, maxBytes: number, maxMessages: number, deadline?: number): Promise<ReadRun> {
    let part = await this.readPart(name, position, Math.min(maxBytes, READ_PART_BYTES), maxMessages, deadline);
    const data: Buffer[] = [...part.data];
    const ends = part.ends;
    let bytes = part.bytes;
    // A large read is made of parts of at most READ_PART_BYTES, each a script of its own, so it
    // never holds Redis (one thread) or the replies queued behind it on the connection for long.
    // The parts follow each other by offset; messages never change, so they join as one read
    // as long as every part reads the same stream (its id).
    while (!part.atTail && part.ends.length > 0 && ends.length < maxMessages && bytes < maxBytes) {
      let next: ReadPart;
      try {
        next = await this.readPart(name, part.last, Math.min(maxBytes - bytes, READ_PART_BYTES), maxMessages - ends.length, deadline);
      } catch (err) {
        if (!(err instanceof StowageError)) throw err;
        break; // deleted, expired or out of time since the first part: what was read stands
      }
      // Another stream of the same name (deleted and made again since): its messages are not these.
      if (next.info.id !== part.info.id) break;
      if (bytes + next.bytes > maxBytes) break; // a message larger than what is left
      for (const end of next.ends) ends.push(bytes + end);
      data.push(...next.data);
      bytes += next.bytes;
      part = next;
    }
    const run = { bytes: data.length === 1 ? data[0]! : Buffer.concat(data, bytes), ends };
    return { run, last: part.last, atTail: part.atTail, info: part.info };
  }

  /** One read script: messages after `position`, at least one when there is one. */
  private async readPart(name: string, position: number, maxBytes: number, maxMessages: number, deadline?: number): Promise<ReadPart> {
    const r = await this.call('read', [name, position, maxBytes, maxMessages], deadline);
    const packed = r[5] as Buffer;
    const ends: number[] = new Array(packed.length / 4);
    for (let i = 0; i < ends.length; i++) ends[i] = packed.readUInt32LE(i * 4);
    // One string, or large messages one by one (see read.lua).
    const data = r[4] as Buffer | Buffer[];
    return {
      data: Array.isArray(data) ? data : [data],
      bytes: ends.length === 0 ? 0 : ends[ends.length - 1]!,
      ends,
      last: num(r[1]),
      atTail: str(r[2]) === '1',
      info: toInfo(r[3] as Reply),
    };
  }

  async head(name: string, opts?: CallOptions): Promise<StreamInfo | undefined> {
    validateKey(this.source, 'name', name);
    const r = await this.call('head', [name], deadlineOf(this.source, opts, CALLS.head));
    return str(r[0]) === 'none' ? undefined : toInfo(r[1] as Reply);
  }

  async closeStream(name: string, opts?: { producer?: StreamProducer } & CallOptions): Promise<StreamCloseResult> {
    validateKey(this.source, 'name', name);
    const o = validateOptions<{ producer: StreamProducer }>(this.source, 'opts', opts);
    const p = o.producer === undefined ? undefined : validateProducer(this.source, o.producer);
    const deadline = deadlineOf(this.source, opts, CALLS.closeStream);
    const r = await this.call('close', [name, p?.id ?? '', p?.epoch ?? 0, p?.seq ?? 0], deadline);
    this.waiters.notify(name);
    const result: StreamCloseResult = {
      nextOffset: formatOffset(num(r[1])),
      alreadyClosed: str(r[2]) === '1',
      duplicate: str(r[0]) === 'duplicate',
    };
    if (str(r[3]) !== '') result.producer = { epoch: num(r[3]), seq: num(r[4]) };
    return result;
  }

  async delete(name: string, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'name', name);
    const deleted = num((await this.call('delete', [name], deadlineOf(this.source, opts, CALLS.delete)))[0]) === 1;
    if (deleted) this.waiters.notifyAll(); // its forks' waiters may be affected too
    return deleted;
  }

  async cleanupExpired(): Promise<number> {
    let total = 0;
    // Bounded by what has expired: each call deletes up to 500, and says whether any remain.
    for (;;) {
      const r = await this.call('cleanup', [500], undefined);
      total += num(r[0]);
      if (num(r[0]) > 0) this.waiters.notifyAll();
      if (num(r[1]) !== 1) return total;
    }
  }

  override async prune(): Promise<number> {
    return this.cleanupExpired();
  }

  async wait(name: string, offset: string, timeoutMs: number, signal?: AbortSignal): Promise<StreamWaitOutcome> {
    validateKey(this.source, 'name', name);
    const position = parseOffset(this.source, 'offset', offset);
    validateDuration(this.source, 'timeoutMs', timeoutMs);
    if (this.closed) throw this.source.error('UNAVAILABLE', 'the store is closed');
    // Not yet subscribed, the wait looks at once all the same (a Cluster's first subscribe may take
    // long): that look fixes the stream (its id) the wait is on, and a name re-created before
    // the subscribe answers is another stream. It looks again once subscribed, so a change in
    // between is not missed. Without the subscriber (reported once per outage; the next wait
    // tries again), this process's changes still wake. Known disconnected, the first look
    // fails at once (UNAVAILABLE).
    const ready = this.reachability.down() || this.subscriber.listening ? undefined : this.subscriber.ensure();
    return this.waiters.wait(name, {
      look: async () => {
        const r = await this.call('tail', [name], undefined);
        if (str(r[0]) === 'none') return undefined;
        const expiresAt = str(r[4]) === '' ? undefined : num(r[4]);
        return { tail: num(r[1]), closed: str(r[2]) === '1', id: str(r[3]), expiresAt, now: num(r[5]) };
      },
      position,
      timeoutMs,
      signal,
      ready,
    });
  }

  protected override async onClose(): Promise<void> {
    this.unwatchDown();
    dropped.unregister(this);
    this.waiters.close();
    this.subscriber.close();
  }
}

/** Removes the known-down listener of a stream store collected without `close()`. */
const dropped = new FinalizationRegistry<() => void>((unwatch) => unwatch());

const buf = (m: Uint8Array): Buffer => Buffer.from(m.buffer, m.byteOffset, m.byteLength);
