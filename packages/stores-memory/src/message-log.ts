import type { MessageRun } from '@stowage/core/adapter-kit';

/** A `readOnly` read is a view of the log's buffer only if that buffer is at most this many times the read. */
export const VIEW_HOLDS_AT_MOST = 4;

/**
 * One stream's own messages, back to back in one buffer that grows as it fills, and where
 * each ends. A read of many messages is then one copy of one byte range, not one per message.
 * The buffer grows to half again what it must hold, at least double its size: grown to exactly
 * the need, a stream loaded in one batch copied its whole log on its next append (measured with
 * `npm run bench:scale`: an append to one of 10^4 such streams took 15x one to a single stream).
 */
export class MessageLog {
  private buf = Buffer.allocUnsafe(256);
  private size = 0;
  /** `ends[i]`: where message `base + 1 + i` ends in `buf`. */
  private readonly ends: number[] = [];

  /** @param base The position before the first message (a fork's own messages start after its fork point). */
  constructor(private readonly base: number) {}

  append(messages: readonly Uint8Array[]): void {
    let need = this.size;
    for (const m of messages) need += m.byteLength;
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need + (need >>> 1), this.buf.length * 2));
      this.buf.copy(grown, 0, 0, this.size);
      this.buf = grown;
    }
    // Copied in: the caller keeps its buffers.
    for (const m of messages) {
      this.buf.set(m, this.size);
      this.size += m.byteLength;
      this.ends.push(this.size);
    }
  }

  /**
   * Messages with `after < position <= upTo`, at most `maxMessages`, stopping before the one
   * that would pass `maxBytes` (one at least), as a run the caller owns (a copy), or with
   * `readOnly` a view of this log: bytes once written here are never changed (a grown buffer
   * is a new one), so the view holds what it held. A copy of a large read was most of a memory
   * server's CPU time (each a fresh allocation, its pages faulted in). A view keeps the whole
   * buffer alive while held (a slow client's response, after the stream is deleted): so it is
   * given only for at least a quarter of the buffer, and a smaller read is copied, so that a
   * read never holds more than {@link VIEW_HOLDS_AT_MOST} times its own size.
   */
  read(after: number, upTo: number, maxBytes: number, maxMessages: number, readOnly = false): MessageRun {
    const { ends } = this;
    const start = Math.max(0, after - this.base);
    const limit = Math.min(upTo - this.base, ends.length, start + maxMessages);
    if (limit <= start) return { bytes: new Uint8Array(0), ends: [] };
    const from = start === 0 ? 0 : ends[start - 1]!;
    // The last message within maxBytes (one at least), by binary search: ends only grow.
    let end = start + 1;
    let hi = limit;
    while (end < hi) {
      const mid = (end + hi + 1) >>> 1;
      if (ends[mid - 1]! - from <= maxBytes) end = mid;
      else hi = mid - 1;
    }
    // From the log's first message the stored ends are the run's own: a copy, not a loop.
    let out: number[];
    if (from === 0) out = ends.slice(start, end);
    else {
      out = new Array(end - start);
      for (let i = start; i < end; i++) out[i - start] = ends[i]! - from;
    }
    const bytes = this.buf.subarray(from, ends[end - 1]!);
    const view = readOnly && bytes.byteLength * VIEW_HOLDS_AT_MOST >= this.buf.byteLength;
    return { bytes: view ? bytes : Buffer.from(bytes), ends: out };
  }
}
