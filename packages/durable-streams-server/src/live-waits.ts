import type { StreamStore, StreamWaitOutcome } from '@stowage/core';
import type { StreamRequest } from './request.js';

/**
 * The `store.wait` calls of live reads (long-poll, SSE) in flight. Each ends early when its
 * client goes away (even before the wait began) or when the handler closes, so no waiter
 * outlives its response.
 */
export class LiveWaits {
  private readonly pending = new Set<AbortController>();
  private readonly closing = new AbortController();

  constructor(private readonly store: StreamStore) {}

  /** Aborted once the handler closes: what a live read awaits besides the store (a slow client) ends too. */
  get closed(): AbortSignal {
    return this.closing.signal;
  }

  /** Ends every wait now (`aborted`); later ones end at once. */
  close(): void {
    this.closing.abort();
    for (const ac of this.pending) ac.abort();
  }

  async wait(r: StreamRequest, from: string, timeoutMs: number): Promise<StreamWaitOutcome> {
    const ac = new AbortController();
    const abort = (): void => ac.abort();
    // A client that left while the read before this wait ran has already fired 'close'.
    if (this.closing.signal.aborted || r.res.destroyed) ac.abort();
    this.pending.add(ac);
    r.res.once('close', abort);
    try {
      return await this.store.wait(r.name, from, timeoutMs, ac.signal);
    } finally {
      this.pending.delete(ac);
      r.res.off('close', abort);
    }
  }
}
