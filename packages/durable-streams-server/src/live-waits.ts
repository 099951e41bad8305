import { getEventListeners } from 'node:events';
import type { StreamAppendResult, StreamInfo, StreamReadResult, StreamStore, StreamWaitOutcome } from '@stowage/core';
import type { StreamRequest } from './request.js';
import { SharedWaits } from './shared-waits.js';

interface SharedRead {
  /** `woken` when it began: a waiter woken at or before that may use it. */
  began: number;
  result: Promise<StreamReadResult>;
}

/**
 * An append of this process, kept until the readers it woke have taken it (at most
 * {@link APPENDED_KEPT_MS}, or until the next append of this process to the stream): they are
 * answered with its message, not a read of the store (see {@link LiveWaits.appendOne}).
 */
interface Appended {
  id: string;
  /** Readers of the stream waiting when it began: at most this many take it. */
  left: number;
  timer: NodeJS.Timeout;
  /** The tail before the append: where its readers waited. */
  from: string;
  message: Uint8Array;
  next: string;
  closed: boolean;
  /** Built by the first reader that takes it, shared by the others (one body, see `readBody`). */
  result?: StreamReadResult;
}

/**
 * What every abort here carries: `abort()` without a reason builds a `DOMException` with a
 * stack each time, a fifth of the CPU of 10,000 SSE readers hanging up at once.
 */
const ENDED = Object.freeze(new Error('the response ended or the handler closed'));

/**
 * How long an append's message waits for the readers it woke. A reader's wait can end turns
 * after the append's answer (its first look, on another connection, came back later); its
 * answer then is the stream as that append left it, which is after the reader began waiting.
 */
export const APPENDED_KEPT_MS = 1000;

/**
 * The waits of live reads (long-poll, SSE) in flight, sharing store waits (see
 * {@link SharedWaits}). Each ends early when its
 * client goes away (even before the wait began) or when the handler closes, so no waiter
 * outlives its response.
 */
export class LiveWaits {
  /** One abort controller per response that waits, for all its waits; gone with the response. */
  private readonly signals = new WeakMap<StreamRequest, AbortController>();
  private readonly open = new Set<AbortController>();
  private readonly closing = new AbortController();
  /** Counts waits that ended with data or a close; each such request keeps its count. */
  private woken = 0;
  private readonly wokenAt = new WeakMap<StreamRequest, number>();
  /** Reads of woken waiters in flight, by offset and stream. */
  private readonly reads = new Map<string, SharedRead>();
  /** This turn's last append to each stream, by name. */
  private readonly lastAppends = new Map<string, Appended>();
  /** Appends of this process in flight, by stream name. */
  private readonly appending = new Map<string, Set<Promise<void>>>();

  private readonly waits: SharedWaits;

  /** `counted`: told of each reader that starts (+1) or stops (-1) waiting. */
  constructor(store: StreamStore, counted?: (delta: number) => void) {
    this.waits = new SharedWaits(store, counted);
  }

  /** Live readers waiting for data now. */
  get waiting(): number {
    return this.waits.waiting;
  }

  /** Ends every wait now (`aborted`); later ones end at once. */
  close(): void {
    this.closing.abort(ENDED);
    for (const ac of this.open) ac.abort(ENDED);
    this.open.clear();
    for (const [name, entry] of this.lastAppends) this.forget(name, entry);
  }

  async wait(r: StreamRequest, from: string, timeoutMs: number): Promise<StreamWaitOutcome> {
    const outcome = await this.waits.wait(r.name, from, timeoutMs, this.ended(r));
    if (outcome === 'data' || outcome === 'closed') this.wokenAt.set(r, ++this.woken);
    return outcome;
  }

  /**
   * Aborted when `r`'s response closes or the handler does: what its waits (and anything else
   * it awaits) listen to. One per response, so an SSE reader woken again and again makes no
   * controller or listener per wait, and slow readers do not pile listeners on one signal.
   */
  ended(r: StreamRequest): AbortSignal {
    let ac = this.signals.get(r);
    if (ac !== undefined) {
      // Its response closed while nothing listened (see below): aborted now, for this use.
      if (r.res.destroyed && !ac.signal.aborted) ac.abort(ENDED);
      return ac.signal;
    }
    ac = new AbortController();
    this.signals.set(r, ac);
    // A client that left while the read before this wait ran has already fired 'close'.
    if (this.closing.signal.aborted || r.res.destroyed) {
      ac.abort(ENDED);
      return ac.signal;
    }
    const controller = ac;
    this.open.add(controller);
    r.res.once('close', () => {
      this.open.delete(controller);
      // An abort builds and sends an event (about 10 us): only for a wait that listens now. Most
      // responses close after their waits ended; a later use of the signal aborts it above.
      if (getEventListeners(controller.signal, 'abort').length > 0) controller.abort(ENDED);
    });
    return ac.signal;
  }

  /**
   * An append to `name` of this process, around the store's call: `append` runs it, and when
   * the store names the stream and the tail before it (see `StreamAppendResult.streamId`),
   * the readers it woke are answered with `message` (kept until they took it, at most
   * {@link APPENDED_KEPT_MS}).
   */
  async appendOne(
    name: string,
    message: Uint8Array,
    append: () => Promise<StreamAppendResult>,
  ): Promise<{ result: StreamAppendResult; waking: number }> {
    // Readers waiting now are those this append wakes (they leave the count as they wake).
    const waking = this.waits.waitingOn(name);
    // Settles once this append's message is offered (or it failed): what a woken reader awaits.
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    let inFlight = this.appending.get(name);
    if (inFlight === undefined) this.appending.set(name, (inFlight = new Set()));
    inFlight.add(settled);
    try {
      const result = await append();
      const { streamId: id, previousOffset: from } = result;
      if (id !== undefined && from !== undefined && !result.duplicate && waking > 0) {
        const entry: Appended = {
          id,
          from,
          message,
          next: result.nextOffset,
          closed: result.closed,
          left: waking,
          timer: setTimeout(() => this.forget(name, entry), APPENDED_KEPT_MS).unref(),
        };
        const before = this.lastAppends.get(name);
        if (before !== undefined) clearTimeout(before.timer);
        this.lastAppends.set(name, entry);
      }
      return { result, waking };
    } finally {
      inFlight.delete(settled);
      if (inFlight.size === 0 && this.appending.get(name) === inFlight) this.appending.delete(name);
      settle();
    }
  }

  /**
   * The read a woken waiter of the stream `info` makes from `from`: the message of this
   * process's last append from `from` to that stream, when it is kept (the store woke this waiter from
   * inside that append, so a reader that gets here first waits for the appends of this
   * process to the name in flight); else a read shared with the other
   * waiters of the stream woken by the same change: one append to a stream 10,000 readers
   * wait on costs one read of the store, not 10,000. A waiter joins a read in flight only if
   * that read began after its wait ended, so it sees what woke it.
   */
  async readWoken(r: StreamRequest, info: StreamInfo, from: string, read: () => Promise<StreamReadResult>): Promise<StreamReadResult> {
    let appended = this.appendedAt(r.name, info, from);
    const inFlight = this.appending.get(r.name);
    if (appended === undefined && inFlight !== undefined) {
      // The store's wake-up (a Redis publish, on another connection) can come turns before
      // the append's own answer: wait for that answer rather than a turn.
      await Promise.all(inFlight);
      appended = this.appendedAt(r.name, info, from);
    }
    return appended ?? this.sharedRead(r, from, read);
  }

  /** The read answer of the kept append to `info`'s stream from `from`, if there is one. */
  private appendedAt(name: string, info: StreamInfo, from: string): StreamReadResult | undefined {
    const a = this.lastAppends.get(name);
    if (a === undefined || a.id !== info.id || a.from !== from) return undefined;
    // At its commit the stream ended with this message: what a read then would have answered.
    a.result ??= {
      messages: [{ offset: a.next, data: a.message }],
      bytes: a.message,
      nextOffset: a.next,
      atTail: true,
      closed: a.closed,
      info: { ...info, nextOffset: a.next, closed: a.closed },
    };
    const result = a.result;
    if (--a.left <= 0) this.forget(name, a);
    return result;
  }

  private forget(name: string, entry: Appended): void {
    clearTimeout(entry.timer);
    if (this.lastAppends.get(name) === entry) this.lastAppends.delete(name);
  }

  private sharedRead(r: StreamRequest, from: string, read: () => Promise<StreamReadResult>): Promise<StreamReadResult> {
    const woke = this.wokenAt.get(r);
    const key = `${from}\n${r.name}`;
    const inFlight = this.reads.get(key);
    if (woke !== undefined && inFlight !== undefined && inFlight.began >= woke) return inFlight.result;
    const entry: SharedRead = { began: this.woken, result: read() };
    this.reads.set(key, entry);
    const done = (): void => {
      if (this.reads.get(key) === entry) this.reads.delete(key);
    };
    entry.result.then(done, done);
    return entry.result;
  }
}
