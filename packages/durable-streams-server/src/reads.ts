import type { OutgoingHttpHeaders } from 'node:http';
import { OFFSET_START_SENTINEL, StowageError, type StreamInfo, type StreamReadResult } from '@stowage/core';
import { isJsonType } from './json.js';
import { RESPONSE_HEADER, source } from './protocol.js';
import { readBody } from './read-body.js';
import type { HandlerContext, StreamRequest } from './request.js';
import { infoHeaders, matchesEtag } from './responses.js';

const EMPTY = Buffer.alloc(0);
const EMPTY_JSON = Buffer.from('[]');

// --- GET: catch-up and offset=now (long-poll in long-poll.ts, SSE in sse-read.ts) ------

/** The messages from `from` (`-1`: the start), as far as `readMaxBytes` and `readMaxMessages` allow. */
export async function catchUp(c: HandlerContext, r: StreamRequest, from: string): Promise<void> {
  await sendRead(c, r, await readFrom(c, r.name, from, r), from, undefined);
}

/**
 * The data of a response from `from`: a read of the store in its turn (see `ReadGate`). With
 * `r`, its wait ends when its client leaves; without, the read may be shared by several
 * requests (woken long-polls and SSE readers), so none of them ends it.
 */
export function readFrom(c: HandlerContext, name: string, from: string, r?: StreamRequest): Promise<StreamReadResult> {
  return c.reads.run(
    `${from}\n${name}`,
    () => c.o.store.read(name, from, { maxBytes: c.o.readMaxBytes, maxMessages: c.o.readMaxMessages, readOnly: true }),
    r?.res,
  );
}

/**
 * A live reader's next read, by name, of the stream it has been reading (`id`): `undefined`
 * when the name holds another stream now (deleted and made again between its last look and
 * this read, by another process), whose data or tail must not be taken for this one's. Its
 * offset past the new stream's tail is that case too: a stream's tail never goes back.
 */
export async function readSameStream(id: string, read: () => Promise<StreamReadResult>): Promise<StreamReadResult | undefined> {
  let result: StreamReadResult;
  try {
    result = await read();
  } catch (err) {
    if (StowageError.is(err, 'INVALID_ARGUMENT') && err.details?.['pastTail'] === true) return undefined;
    throw err;
  }
  return result.info.id === id ? result : undefined;
}

/** `offset=now`: no data, the tail; a read all the same (renews an idle TTL). */
export async function readNow(c: HandlerContext, r: StreamRequest): Promise<void> {
  const info = await existing(c, r.name);
  const { info: now } = await c.o.store.read(r.name, info.nextOffset, { maxMessages: 1, maxBytes: 1 });
  const headers: OutgoingHttpHeaders = {
    'Content-Type': now.contentType,
    'Cache-Control': 'no-store',
    [RESPONSE_HEADER.nextOffset]: now.nextOffset,
    [RESPONSE_HEADER.upToDate]: 'true',
  };
  if (now.closed) headers[RESPONSE_HEADER.closed] = 'true';
  const body = isJsonType(now.contentType) ? EMPTY_JSON : EMPTY;
  headers['Content-Length'] = body.length;
  r.res.writeHead(200, headers).end(body);
}

/**
 * A read's answer: its messages, or 304 when the client's copy is current (ETag). Resolves once
 * its body is written (large ones go a piece at a time, see `SendLimit`).
 */
export async function sendRead(
  c: HandlerContext,
  r: StreamRequest,
  result: StreamReadResult,
  from: string,
  cursor: string | undefined,
): Promise<void> {
  const ended = result.closed && result.atTail;
  const etag = `"${result.info.id}:${from}:${result.nextOffset}${ended ? ':closed' : ''}"`;
  const headers: OutgoingHttpHeaders = {
    'Content-Type': result.info.contentType,
    // A response that reaches the tail grows later: revalidate it (ETag) rather than cache it.
    'Cache-Control': result.atTail && cursor === undefined ? 'no-cache' : c.o.cacheControl,
    ETag: etag,
    [RESPONSE_HEADER.nextOffset]: result.nextOffset,
  };
  if (result.atTail) headers[RESPONSE_HEADER.upToDate] = 'true';
  if (ended) headers[RESPONSE_HEADER.closed] = 'true';
  if (cursor !== undefined) headers[RESPONSE_HEADER.cursor] = cursor;
  if (matchesEtag(r.req, etag)) {
    r.res.writeHead(304, headers).end();
    return;
  }
  const body = readBody(result);
  headers['Content-Length'] = body.length;
  await c.sends.end(r.res.writeHead(200, headers), body);
}

// --- HEAD ---------------------------------------------------------------------------

export async function head(c: HandlerContext, r: StreamRequest): Promise<void> {
  const info = await existing(c, r.name);
  const headers = infoHeaders(info);
  headers['Cache-Control'] = 'no-store';
  if (info.ttlMs !== undefined) headers[RESPONSE_HEADER.ttl] = String(Math.round(info.ttlMs / 1000));
  if (info.expiresAt !== undefined) headers[RESPONSE_HEADER.expiresAt] = new Date(info.expiresAt).toISOString();
  r.res.writeHead(200, headers).end();
}

/** The stream's metadata; a missing stream is `NOT_FOUND`, or `GONE` when kept for its forks. */
export async function existing(c: HandlerContext, name: string): Promise<StreamInfo> {
  const info = await c.o.store.head(name);
  if (info !== undefined) return info;
  // Let a read say why (deleted but kept for forks: GONE), then fall back to NOT_FOUND.
  await c.o.store.read(name, OFFSET_START_SENTINEL, { maxMessages: 1, maxBytes: 1 });
  throw source.error('NOT_FOUND', `stream ${name} does not exist`);
}
