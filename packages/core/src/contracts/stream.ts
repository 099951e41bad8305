import type { CallOptions, Closeable } from './common.js';

/** How a stream is configured at creation. */
export interface StreamConfig {
  /**
   * The stream's media type as given (returned as given; compared by
   * `normalizeContentType`). Required unless the stream is a fork, which inherits it.
   * Printable ASCII, at most 256 characters, starting with `type/subtype` (HTTP tokens),
   * parameters after a `;` as the caller likes; else `INVALID_ARGUMENT`.
   */
  contentType?: string;
  /**
   * Idle time-to-live: the stream expires `ttlMs` after its last read, append or close
   * (`head` does not count). Exclusive with `expiresAt`.
   */
  ttlMs?: number;
  /** Absolute expiry, epoch ms on the store's clock. Exclusive with `ttlMs`. */
  expiresAt?: number;
  /** Create the stream already closed (its initial messages are then its whole content). */
  closed?: boolean;
}

/**
 * Create a stream as a fork of another: it reads as the source's messages up to `offset`
 * followed by its own. The source's later appends are not seen. Forks have their own
 * lifetime, content and producers.
 */
export interface StreamForkSpec {
  /** The source stream. Absent (missing, expired, or deleted): `NOT_FOUND`; kept hidden for its forks: `CONFLICT`. */
  from: string;
  /** Where to fork: an offset of the source between its start and its tail. @default the source's tail */
  offset?: string;
  /**
   * The Durable Streams sub-offset: how much of the source message that follows `offset` the
   * fork keeps (bytes, or JSON values, as the server counts them). Kept for idempotent
   * re-creation; 0 and `undefined` are the same. When > 0, `prefix` is required.
   */
  subOffset?: number;
  /**
   * The kept part of that message, resolved by the caller (the server knows the content
   * type); materialized as the fork's first own message.
   */
  prefix?: Uint8Array;
}

export interface StreamCreateOptions extends CallOptions {
  /** Initial messages, appended in the same atomic step. */
  messages?: readonly Uint8Array[];
  fork?: StreamForkSpec;
}

/** A stream's metadata. */
export interface StreamInfo {
  /** Opaque id of this incarnation of the name (changes when the name is re-created); ETags use it. */
  id: string;
  contentType: string;
  ttlMs?: number;
  expiresAt?: number;
  closed: boolean;
  /** The tail: the offset after the last message. */
  nextOffset: string;
  /** Epoch ms of creation on the store's clock. */
  createdAt: number;
  forkedFrom?: string;
  forkOffset?: string;
  forkSubOffset?: number;
}

export interface StreamCreateResult {
  /** `created`, or `exists` when a stream with the same configuration was already there. */
  status: 'created' | 'exists';
  info: StreamInfo;
}

/** An idempotent producer's claim (Kafka-style): integers 0 to 2^53 - 1. */
export interface StreamProducer {
  id: string;
  epoch: number;
  seq: number;
}

export interface StreamAppendOptions extends CallOptions {
  /** Must match the stream's media type (`CONFLICT` otherwise); not checked when omitted. */
  contentType?: string;
  /** Writer sequence: strictly increasing, compared as UTF-8 bytes; otherwise `CONFLICT`. */
  seq?: string;
  producer?: StreamProducer;
  /** Close the stream in the same step, after appending. */
  close?: boolean;
}

export interface StreamAppendResult {
  /** The tail after the append (for a duplicate: the current tail). */
  nextOffset: string;
  /** True if the producer had already appended this seq: nothing was appended. */
  duplicate: boolean;
  /** Whether the stream is closed after the call. */
  closed: boolean;
  /** With a producer: its epoch and the highest seq accepted in that epoch. */
  producer?: { epoch: number; seq: number };
  /**
   * Optional, both or neither, never on a duplicate: the {@link StreamInfo.id} of the stream
   * appended to, and its tail before the append (the batch follows it). With them a server
   * answers the readers this append woke with the batch itself, without reading it back
   * (one round trip to the database less per wake-up); without them it reads.
   */
  streamId?: string;
  /** See {@link StreamAppendResult.streamId}. */
  previousOffset?: string;
}

/** A message and the offset right after it. */
export interface StreamMessage {
  offset: string;
  data: Uint8Array;
}

export interface StreamReadOptions extends CallOptions {
  /** Stop before the message that would pass this many bytes (one message is always returned). @default 1 MiB */
  maxBytes?: number;
  /** At most this many messages. @default 1000 */
  maxMessages?: number;
  /**
   * The caller only reads what it gets (a server writing it to a socket, say): a store may then
   * return `bytes` and each message's `data` as views of memory it keeps, rather than copies.
   * A stream's stored bytes are never rewritten, so such a view stays as it was for as long as
   * it is held; changing it would change the stream for every reader. Stores whose reads
   * arrive over a socket return new buffers either way. The result's `messages` may then be
   * made when first read (an accessor, not an own property: a spread or `structuredClone` of
   * the result leaves them out), so a caller that sends `bytes` pays nothing per message.
   * @default false
   */
  readOnly?: boolean;
}

export interface StreamReadResult {
  messages: StreamMessage[];
  /**
   * The data of `messages` back to back, when the store read them in one piece: a server
   * sends it as the body at no cost per message. The caller's own bytes, as `messages`' are
   * (unless it asked for `readOnly`).
   */
  bytes?: Uint8Array;
  /** Where the next read starts: the offset of the last message returned, or `from` resolved. */
  nextOffset: string;
  /** True when nothing lies after `nextOffset` at the time of the read. */
  atTail: boolean;
  /** Whether the stream is closed. */
  closed: boolean;
  info: StreamInfo;
}

export interface StreamCloseResult {
  nextOffset: string;
  /** True if the stream was already closed (by a plain close or the same producer claim). */
  alreadyClosed: boolean;
  /** True for a retried producer close: nothing changed. */
  duplicate: boolean;
  producer?: { epoch: number; seq: number };
}

/** Why `wait` resolved. */
export type StreamWaitOutcome = 'data' | 'closed' | 'timeout' | 'missing' | 'aborted';

/**
 * The storage behind the Durable Streams protocol: named, append-only sequences of
 * messages with opaque offsets. Per-stream atomic; offsets strictly increase.
 *
 * Offsets are strings of the form `0000000000000000_<16 digits>` that sort
 * lexicographically in stream order (`STREAM_START_OFFSET` is the start), never contain
 * `, & = ? /` and never equal `-1` or `now`. `-1` is accepted wherever an offset is read and
 * means the start. A fork's own offsets continue from its fork offset.
 *
 * Expired streams behave as if absent. A stream deleted (or expired) while forks still read
 * through it is kept, hidden: its name answers `GONE` to `read`, `append`, `closeStream` and
 * `delete`, and `CONFLICT` to `create`. It is kept only while a fork still reads through it: a
 * live fork, or a fork itself kept for a live fork further down a chain. Once every fork has
 * expired or been deleted, the stream is absent at once, on the store's clock, whether or not
 * `cleanupExpired` has run: `head` is `undefined`, `read`, `append` and `closeStream` are
 * `NOT_FOUND`, `delete` is false and `create` makes a new stream under the name.
 *
 * Producer rules, in this order: an epoch below the current one is `FENCED`
 * (`details.currentEpoch`); same epoch and `seq <= last` is a duplicate (success, nothing
 * appended); a closed stream is `CONFLICT` (`details.closed = true`); a new epoch, or a new
 * producer, must start at seq 0 (`INVALID_ARGUMENT` for a new epoch, `CONFLICT` with
 * `details.expectedSeq = 0` for a new producer); a seq gap is `CONFLICT` with
 * `details.expectedSeq` and `details.receivedSeq`. A batch is appended whole or not at all.
 *
 * Messages are at most `maxMessageBytes` each (default 8 MiB, `STREAM_DEFAULTS.maxMessageBytes`).
 *
 * Every method but `wait` and `cleanupExpired` takes the caller's deadline
 * ({@link CallOptions}): an append its caller was told failed is never appended.
 */
export interface StreamStore extends Closeable {
  /**
   * Creates a stream, or finds the same one: `exists` when the existing stream's media type,
   * `ttlMs`, `expiresAt`, closed state and fork origin equal the request (a fork without its
   * own expiry compares with the inherited one); a different configuration is `CONFLICT`.
   * Both `ttlMs` and `expiresAt`: `INVALID_ARGUMENT`. A fork without its own expiry inherits
   * the source's `ttlMs` or `expiresAt`; a fork of a closed stream starts open.
   */
  create(name: string, config: StreamConfig, opts?: StreamCreateOptions): Promise<StreamCreateResult>;

  /** Appends a batch (at least one message). Missing stream: `NOT_FOUND`. See the producer rules above. */
  append(name: string, messages: readonly Uint8Array[], opts?: StreamAppendOptions): Promise<StreamAppendResult>;

  /**
   * Messages after `fromOffset` (`-1`: from the start), up to the limits. An offset that is
   * malformed or past the tail is `INVALID_ARGUMENT`: a malformed one whatever the stream (an
   * argument), one past the tail only once the stream is found (see the order of checks in
   * `common.ts`). Renews an idle TTL.
   */
  read(name: string, fromOffset: string, opts?: StreamReadOptions): Promise<StreamReadResult>;

  /** Metadata, or `undefined` if missing, expired or deleted. Does not renew an idle TTL. */
  head(name: string, opts?: CallOptions): Promise<StreamInfo | undefined>;

  /**
   * Closes the stream: no append is accepted after. Idempotent (`alreadyClosed`). With a
   * producer, the close takes part in the producer rules: the same claim again is a
   * duplicate; another claim on a closed stream is `CONFLICT`. Missing: `NOT_FOUND`.
   * (Named `closeStream` because `close()` ends the store's own life.)
   */
  closeStream(name: string, opts?: { producer?: StreamProducer } & CallOptions): Promise<StreamCloseResult>;

  /** Deletes the stream. False if it did not exist. While a fork reads through it, it is kept hidden (see above). */
  delete(name: string, opts?: CallOptions): Promise<boolean>;

  /**
   * Resolves when data past `offset` exists (`data`), the stream is closed with nothing past
   * `offset` (`closed`), the stream is missing, deleted or expired (`missing`), `timeoutMs`
   * passed (`timeout`) or `signal` aborted / the store closed (`aborted`). Sees appends made by
   * other processes. Never rejects for these reasons.
   *
   * An expiry ends the wait like a delete, though nothing announces it: `missing` at the
   * moment the stream expires on the store's clock (`expiresAt`, or the idle TTL after its
   * last read, append or close: a read meanwhile moves that moment, the wait's own looks do
   * not), plus one look at the backend. Each look learns when the stream expires and looks
   * again then (no sooner than 10 ms after). That delay is counted in this process's time from
   * the store's clock at the look, so a custom clock stepped past the expiry is seen by then
   * at the latest. This holds for a fork's own or inherited expiry and for a source kept
   * hidden for its forks. A name re-created while the wait is pending (another `id`) is
   * another stream: the wait resolves `missing` when it sees it, never `data` of the new
   * stream.
   */
  wait(name: string, offset: string, timeoutMs: number, signal?: AbortSignal): Promise<StreamWaitOutcome>;

  /** Deletes expired streams (and forks' sources no longer needed); returns how many streams went. */
  cleanupExpired(): Promise<number>;
}
