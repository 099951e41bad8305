import { getEventListeners } from 'node:events';
import type { StreamReadResult, StreamStore, StreamWaitOutcome } from '@stowage/core';
import type { StreamRequest } from './request.js';
import { SharedWaits } from './shared-waits.js';

interface SharedRead {
  /** `woken` when it began: a waiter woken at or before that may use it. */
  began: number;
  result: Promise<StreamReadResult>;
}

/**
 * What every abort here carries: `abort()` without a reason builds a `DOMException` with a
 * stack each time, a fifth of the CPU of 10,000 SSE readers hanging up at once.
 */
const ENDED = Object.freeze(new Error('the response ended or the handler closed'));

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

  private readonly waits: SharedWaits;

  /** `counted`: told of each reader that starts (+1) or stops (-1) waiting. */
  constructor(store: StreamStore, counted?: (delta: number) => void) {
    this.waits = new SharedWaits(store, counted);
  }

  /** Live readers waiting for data now. */
  get waiting(): number {
    return this.waits.waiting;
  }

  /** Live readers waiting for data of `name` now. */
  waitingOn(name: string): number {
    return this.waits.waitingOn(name);
  }

  /** Ends every wait now (`aborted`); later ones end at once. */
  close(): void {
    this.closing.abort(ENDED);
    for (const ac of this.open) ac.abort(ENDED);
    this.open.clear();
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
   * The read a woken waiter makes from `from`, shared with the other waiters of the stream
   * woken by the same change: one append to a stream 10,000 readers wait on costs one read of
   * the store, not 10,000. A waiter joins a read in flight only if that read began after its
   * wait ended, so it sees what woke it.
   */
  readWoken(r: StreamRequest, from: string, read: () => Promise<StreamReadResult>): Promise<StreamReadResult> {
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
