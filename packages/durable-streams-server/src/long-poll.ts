import type { OutgoingHttpHeaders } from 'node:http';
import { OFFSET_NOW_SENTINEL, OFFSET_START_SENTINEL, type StreamInfo } from '@stowage/core';
import { hasMessages } from './bytes.js';
import { nextCursor } from './cursor.js';
import { RESPONSE_HEADER, source } from './protocol.js';
import { existing, readFrom, readSameStream, sendRead } from './reads.js';
import type { HandlerContext, StreamRequest } from './request.js';

/** 204 of a live read with nothing new: the tail, and whether the stream is closed. */
function sendNoData(r: StreamRequest, tail: string, cursor: string, closed: boolean): void {
  const headers: OutgoingHttpHeaders = {
    'Cache-Control': 'no-store',
    [RESPONSE_HEADER.nextOffset]: tail,
    [RESPONSE_HEADER.upToDate]: 'true',
  };
  if (closed) headers[RESPONSE_HEADER.closed] = 'true';
  else headers[RESPONSE_HEADER.cursor] = cursor;
  r.res.writeHead(204, headers).end();
}

/** `live=long-poll`: data after `offset` now, or the first to come within `longPollTimeoutMs`. */
export async function longPoll(c: HandlerContext, r: StreamRequest, offset: string): Promise<void> {
  const cursor = nextCursor(r.params.get('cursor'));
  let from: string;
  let info: StreamInfo;
  if (offset === OFFSET_NOW_SENTINEL) {
    info = await existing(c, r.name);
    if (info.closed) return sendNoData(r, info.nextOffset, cursor, true);
    from = info.nextOffset;
  } else {
    const first = await readFrom(c, r.name, offset, r);
    if (hasMessages(first)) return sendRead(c, r, first, offset, cursor);
    if (first.closed) return sendNoData(r, first.nextOffset, cursor, true);
    from = first.nextOffset;
    info = first.info;
  }
  const outcome = await c.live.wait(r, from, c.o.longPollTimeoutMs);
  if (outcome === 'timeout' || outcome === 'aborted') {
    if (!r.res.destroyed) sendNoData(r, from, cursor, false);
    return;
  }
  if (outcome !== 'missing') {
    const next = await readSameStream(info.id, () => c.live.readWoken(r, info, from, () => readFrom(c, r.name, from)));
    if (next !== undefined) {
      if (hasMessages(next)) return sendRead(c, r, next, from, cursor);
      return sendNoData(r, next.nextOffset, cursor, next.closed);
    }
    // The name holds another stream since the wake-up: the one waited on is missing.
  }
  // Deleted, expired, or hidden but kept for its forks: answer what a read would (GONE for
  // the last), NOT_FOUND when the name has been created anew since.
  await c.o.store.read(r.name, OFFSET_START_SENTINEL, { maxMessages: 1, maxBytes: 1 });
  throw source.error('NOT_FOUND', `stream ${r.name} was deleted`);
}
