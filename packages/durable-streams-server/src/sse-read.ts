import type { OutgoingHttpHeaders } from 'node:http';
import { OFFSET_NOW_SENTINEL, type StreamInfo, type StreamReadResult, type StreamWaitOutcome } from '@stowage/core';
import { normalizeContentType } from '@stowage/core/adapter-kit';
import { hasMessages } from './bytes.js';
import { nextCursor } from './cursor.js';
import { RESPONSE_HEADER } from './protocol.js';
import { existing, readFrom, readSameStream } from './reads.js';
import type { HandlerContext, StreamRequest } from './request.js';
import { SseWriter, sseEncoding } from './sse.js';

/**
 * GET with `live=sse`: the data from `offset`, then new data as it comes, each batch followed
 * by a control event; heartbeats while idle; ends after `sseMaxDurationMs`, when the stream
 * closes, or when the client leaves or the handler closes.
 *
 * Backpressure: after each batch it waits until the connection has taken what was written
 * before it reads the store again, so a client that does not read holds at most one batch
 * (`readMaxBytes`) in this process. That wait is under the send time limit of every response
 * (`sendTimeoutMs`), not the response's own time: a client that takes none of a batch within
 * it is cut, with one line (it resumes from the last control event it got).
 */
export async function sse(c: HandlerContext, r: StreamRequest, offset: string): Promise<void> {
  let pending: StreamReadResult | undefined;
  let info: StreamInfo;
  let from = offset;
  if (offset === OFFSET_NOW_SENTINEL) {
    info = await existing(c, r.name);
    from = info.nextOffset;
  } else {
    pending = await readFrom(c, r.name, offset, r);
    info = pending.info;
  }
  const encoding = sseEncoding(normalizeContentType(info.contentType));
  const headers: OutgoingHttpHeaders = {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    'X-Accel-Buffering': 'no',
  };
  if (encoding === 'base64') headers[RESPONSE_HEADER.sseEncoding] = 'base64';
  r.res.writeHead(200, headers);
  const events = new SseWriter(r.res, encoding);
  const cursor = nextCursor(r.params.get('cursor'));
  const deadline = Date.now() + c.o.sseMaxDurationMs;
  let announced = false;
  for (;;) {
    if (pending !== undefined) {
      from = pending.nextOffset;
      const ended = pending.closed && pending.atTail;
      const hasData = hasMessages(pending);
      if (hasData) events.data(pending);
      if (hasData || ended || !announced) {
        events.control(
          ended
            ? { streamNextOffset: from, streamClosed: true, upToDate: true }
            : { streamNextOffset: from, streamCursor: cursor, ...(pending.atTail ? { upToDate: true as const } : {}) },
        );
        announced = true;
      }
      if (ended) break;
      // The send time limit of every response: a client that takes none of the batch within
      // it is cut there, with one line (and the response's time does not end that wait).
      if (!(await c.sends.drained(r.res, c.live.ended(r)))) {
        if (r.res.destroyed) return; // gone, or cut
        break; // the handler closed: the response ends, what waits for its client still under the limit
      }
      if (!pending.atTail) {
        // The name made anew meanwhile: end here; the client's next request learns it is gone.
        pending = await readSameStream(info.id, () => readFrom(c, r.name, from, r));
        if (pending === undefined) break;
        continue;
      }
    } else if (!announced) {
      // offset=now: start at the tail
      events.control(
        info.closed
          ? { streamNextOffset: from, streamClosed: true, upToDate: true }
          : { streamNextOffset: from, streamCursor: cursor, upToDate: true },
      );
      announced = true;
      if (info.closed) break;
    }
    pending = undefined;
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    const outcome = await waitWithHeartbeats(c, r, from, remaining, events);
    if (outcome !== 'data' && outcome !== 'closed') break; // the response's time is up, or missing, aborted
    pending = await readSameStream(info.id, () => c.live.readWoken(r, info, from, () => readFrom(c, r.name, from)));
    if (pending === undefined) break; // the name made anew meanwhile
  }
  r.res.end();
}

/**
 * One `store.wait` for the rest of the response, with heartbeats meanwhile (at least every
 * `sseHeartbeatMs`). A wait per heartbeat would make each idle reader look at the store that
 * often (10,000 readers and 15 s: about 670 queries a second on a database, for nothing). A
 * store that fails while it waits ends the wait itself (a look that fails rejects it).
 */
async function waitWithHeartbeats(
  c: HandlerContext,
  r: StreamRequest,
  from: string,
  ms: number,
  events: SseWriter,
): Promise<StreamWaitOutcome> {
  c.heartbeats.add(events);
  try {
    return await c.live.wait(r, from, ms);
  } finally {
    c.heartbeats.delete(events);
  }
}
