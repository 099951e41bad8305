// A read's messages as one run of bytes: what a store reads in one piece (one buffer, one
// SQL row, one Redis reply) becomes a response body with no copy per message.

import type { StreamInfo, StreamMessage, StreamReadResult } from '../contracts/stream.js';
import { formatOffset } from './offsets.js';

/**
 * Consecutive messages back to back in `bytes`: message `i` is `bytes[ends[i - 1] ?? 0, ends[i])`.
 * `bytes` is the reader's own (never the stored memory): callers may keep or change it.
 */
export interface MessageRun {
  bytes: Uint8Array;
  ends: ArrayLike<number>;
}

export const EMPTY_RUN: MessageRun = Object.freeze({ bytes: new Uint8Array(0), ends: Object.freeze([]) });

/**
 * One message of a run. Its bytes are a view of the run and its offset a string only when
 * asked for: a server that sends the run as one body never pays for either.
 */
class RunMessage implements StreamMessage {
  constructor(
    private readonly run: MessageRun,
    private readonly index: number,
    private readonly position: number,
  ) {}
  get data(): Uint8Array {
    const { bytes, ends } = this.run;
    const start = this.index === 0 ? 0 : ends[this.index - 1]!;
    return new Uint8Array(bytes.buffer, bytes.byteOffset + start, ends[this.index]! - start);
  }
  get offset(): string {
    return formatOffset(this.position);
  }
}

/** The messages of `run`, the first at `first`. */
export function runMessages(run: MessageRun, first: number): StreamMessage[] {
  const n = run.ends.length;
  const out: StreamMessage[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = new RunMessage(run, i, first + i);
  return out;
}

/**
 * A `readOnly` read's answer, whose `messages` are made when first read (then kept; they may be
 * replaced): a server that sends `bytes` as the body makes no object per message (on a memory
 * store's read of 1,000 messages those were most of its time).
 */
class RunReadResult implements StreamReadResult {
  readonly bytes: Uint8Array;
  readonly nextOffset: string;
  readonly closed: boolean;
  readonly #run: MessageRun;
  readonly #position: number;
  #messages: StreamMessage[] | undefined;

  constructor(
    run: MessageRun,
    position: number,
    last: number,
    readonly atTail: boolean,
    readonly info: StreamInfo,
  ) {
    this.#run = run;
    this.#position = position;
    this.bytes = run.bytes;
    this.nextOffset = formatOffset(last);
    this.closed = info.closed;
  }

  get messages(): StreamMessage[] {
    return (this.#messages ??= runMessages(this.#run, this.#position + 1));
  }

  set messages(value: StreamMessage[]) {
    this.#messages = value;
  }
}

/**
 * A read's answer from its run. For a `readOnly` read (see `StreamReadOptions.readOnly`) its
 * `messages` are made when first read ({@link RunReadResult}); otherwise it is a plain object.
 */
export function runReadResult(
  run: MessageRun,
  position: number,
  last: number,
  atTail: boolean,
  info: StreamInfo,
  readOnly: boolean,
): StreamReadResult {
  if (readOnly) return new RunReadResult(run, position, last, atTail, info);
  return { messages: runMessages(run, position + 1), bytes: run.bytes, nextOffset: formatOffset(last), atTail, closed: info.closed, info };
}

/** The first `count` messages of `run`. */
export function runPrefix(run: MessageRun, count: number): MessageRun {
  if (count >= run.ends.length) return run;
  const ends = Array.prototype.slice.call(run.ends, 0, count) as number[];
  return { bytes: run.bytes.subarray(0, count === 0 ? 0 : ends[count - 1]), ends };
}

/** How many of the run's messages fit in `maxBytes` (at least one when `atLeastOne`). */
export function fitting(run: MessageRun, maxBytes: number, atLeastOne: boolean): number {
  const { ends } = run;
  let k = 0;
  while (k < ends.length && ends[k]! <= maxBytes) k++;
  return k === 0 && atLeastOne && ends.length > 0 ? 1 : k;
}

/** Runs joined into one (the rare read through a fork chain: one copy). */
export function joinRuns(runs: readonly MessageRun[]): MessageRun {
  if (runs.length === 1) return runs[0]!;
  let size = 0;
  for (const r of runs) size += r.bytes.byteLength;
  const bytes = new Uint8Array(size);
  const ends: number[] = [];
  let at = 0;
  for (const r of runs) {
    bytes.set(r.bytes, at);
    for (let i = 0; i < r.ends.length; i++) ends.push(at + r.ends[i]!);
    at += r.bytes.byteLength;
  }
  return { bytes, ends };
}

/** A run of messages given one by one (a backend reading row by row): one copy. */
export function runOf(messages: readonly Uint8Array[]): MessageRun {
  let size = 0;
  for (let i = 0; i < messages.length; i++) size += messages[i]!.byteLength;
  const bytes = new Uint8Array(size);
  const ends: number[] = new Array(messages.length);
  let at = 0;
  for (let i = 0; i < messages.length; i++) {
    bytes.set(messages[i]!, at);
    at += messages[i]!.byteLength;
    ends[i] = at;
  }
  return { bytes, ends };
}
