import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { STREAM_START_OFFSET } from '@stowage/core';
import { readBody } from './body.js';
import { forkSpec } from './fork-source.js';
import { isJsonType, jsonBodyMessage } from './json.js';
import {
  closedHeader,
  contentTypeOf,
  expiryHeaders,
  REQUEST_HEADER,
  RESPONSE_HEADER,
  producerHeaders,
  single,
  source,
} from './protocol.js';
import type { HandlerContext, StreamRequest } from './request.js';
import { infoHeaders } from './responses.js';
import { requestOrigin, requestPath } from './origin.js';

// --- PUT: create, or find the same stream --------------------------------------------

export async function create(c: HandlerContext, r: StreamRequest): Promise<void> {
  const h = r.req.headersDistinct;
  const contentType = contentTypeOf(h);
  const expiry = expiryHeaders(h);
  const closed = closedHeader(h);
  const fork = await forkSpec(c, r);
  const body = await readBody(r.req, c.o.maxBodyBytes);
  let messages: Uint8Array[] = [];
  if (body.length > 0) {
    const type = contentType ?? (fork === undefined ? undefined : (await c.o.store.head(fork.from))?.contentType);
    if (type !== undefined && isJsonType(type)) {
      const message = jsonBodyMessage(body);
      if (message !== undefined) messages = [message];
    } else {
      messages = [body];
    }
  }
  const result = await c.o.store.create(
    r.name,
    { contentType: contentType ?? (fork === undefined ? 'application/octet-stream' : undefined), ...expiry, closed },
    { messages, ...(fork === undefined ? {} : { fork }) },
  );
  // A new stream with content (given, or inherited by a fork) is an append to subscriptions.
  if (c.subs !== undefined && result.status === 'created' && result.info.nextOffset !== STREAM_START_OFFSET) {
    await c.subs.noteAppend(r.name, result.info.nextOffset);
  }
  const headers = infoHeaders(result.info);
  headers['Content-Length'] = 0;
  if (result.status === 'created') {
    headers['Location'] = locationOf(r.req);
    r.res.writeHead(201, headers).end();
  } else {
    r.res.writeHead(200, headers).end();
  }
}

// --- POST: append, close ------------------------------------------------------------

export async function append(c: HandlerContext, r: StreamRequest): Promise<void> {
  const h = r.req.headersDistinct;
  const close = closedHeader(h);
  const producer = producerHeaders(h);
  const seq = single(h, REQUEST_HEADER.seq);
  const body = await readBody(r.req, c.o.maxBodyBytes);
  const headers: OutgoingHttpHeaders = {};
  if (body.length === 0) {
    if (!close) throw source.invalid('the body is empty: an append needs at least one byte (Stream-Closed: true closes)');
    const result = await c.o.store.closeStream(r.name, producer === undefined ? undefined : { producer });
    headers[RESPONSE_HEADER.nextOffset] = result.nextOffset;
    headers[RESPONSE_HEADER.closed] = 'true';
    producerResultHeaders(headers, result.producer);
    r.res.writeHead(204, headers).end();
    return;
  }
  const contentType = contentTypeOf(h);
  if (contentType === undefined) throw source.invalid('Content-Type is required on an append');
  let message: Uint8Array = body;
  if (isJsonType(contentType)) {
    const values = jsonBodyMessage(body);
    if (values === undefined) throw source.invalid('an empty JSON array appends nothing');
    message = values;
  }
  const { result, waking } = await c.live.appendOne(r.name, message, () =>
    c.o.store.append(r.name, [message], {
      contentType,
      ...(seq === undefined ? {} : { seq }),
      ...(producer === undefined ? {} : { producer }),
      close,
    }),
  );
  // Noted before the answer, so a claim sent after it sees the work; never fails the append.
  if (c.subs !== undefined) await c.subs.noteAppend(r.name, result.nextOffset);
  headers[RESPONSE_HEADER.nextOffset] = result.nextOffset;
  if (result.closed) headers[RESPONSE_HEADER.closed] = 'true';
  producerResultHeaders(headers, result.producer);
  if (waking > 0 && waking <= FEW_READERS && !result.duplicate) await new Promise((resolve) => setImmediate(resolve));
  r.res.writeHead(producer !== undefined && !result.duplicate ? 200 : 204, headers).end();
}

/**
 * Readers of a live tail are what a stream is for: when an append wakes a few of them, their
 * answers go out before the appender's (one turn of the event loop later; a store that reads
 * in process, memory or SQLite, has answered them by then). With many, the appender is not
 * kept waiting behind thousands of writes.
 */
const FEW_READERS = 64;

// --- DELETE -------------------------------------------------------------------------

export async function remove(c: HandlerContext, r: StreamRequest): Promise<void> {
  if (!(await c.o.store.delete(r.name))) throw source.error('NOT_FOUND', `stream ${r.name} does not exist`);
  await c.subs?.noteDelete(r.name);
  r.res.writeHead(204).end();
}

function producerResultHeaders(headers: OutgoingHttpHeaders, producer: { epoch: number; seq: number } | undefined): void {
  if (producer === undefined) return;
  headers[RESPONSE_HEADER.producerEpoch] = String(producer.epoch);
  headers[RESPONSE_HEADER.producerSeq] = String(producer.seq);
}

/**
 * The Location of a 201: the created stream's absolute URL, or its path alone when the
 * request names no usable host (RFC 9110 §10.2.2 allows a relative reference).
 */
function locationOf(req: IncomingMessage): string {
  return `${requestOrigin(req) ?? ''}${requestPath(req)}`;
}
