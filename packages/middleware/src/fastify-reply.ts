import type { ServerResponse } from 'node:http';
import { finished, PassThrough, Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { StoredResponse } from '@stowage/core';
import type { FastifyReply } from 'fastify';
import type { HeaderLines, ResponseDraft } from './problem.js';

// Node >= 15.13 has it; @types/node 20 does not declare it.
type WithRawNames = ServerResponse & { getRawHeaderNames(): string[] };

/**
 * The header lines Fastify will write for `reply`: Node's progressive headers first (set on
 * `reply.raw`, their names as first set), then Fastify's own (`reply.header`, lower case),
 * which win, as Node merges them at `writeHead`. A name Fastify holds is written in lower
 * case; one set only on `reply.raw` keeps its case. (When both hold a name with the same
 * value, which is rare, the raw case is kept though Node writes it in lower case.)
 */
export function replyHeaderLines(reply: FastifyReply): HeaderLines {
  const raw = reply.raw as WithRawNames;
  const rawNames = new Map(raw.getRawHeaderNames().map((name) => [name.toLowerCase(), name]));
  const headers = reply.getHeaders() as Record<string, unknown>;
  const lines: HeaderLines = [];
  for (const field of Object.keys(headers)) {
    const value = headers[field];
    if (value === undefined) continue;
    const rawName = rawNames.get(field);
    const name = rawName !== undefined && raw.getHeader(field) === value ? rawName : field;
    if (Array.isArray(value)) for (const v of value) lines.push([name, String(v)]);
    else lines.push([name, String(value)]);
  }
  return lines;
}

/**
 * Sets `lines` on `reply`, each name replacing what the request had (an earlier hook's
 * value), values of one name in order. A lower-case name goes through `reply.header` (so
 * Fastify's own hooks see it); a name with capitals (or `__proto__`, which Fastify's header
 * object cannot hold) on `reply.raw`, so that it is written as it was.
 */
export function setReplyHeaderLines(reply: FastifyReply, lines: HeaderLines): void {
  const groups = new Map<string, { name: string; values: string[] }>();
  for (const [name, value] of lines) {
    const field = name.toLowerCase();
    const group = groups.get(field);
    if (group === undefined) groups.set(field, { name, values: [value] });
    else group.values.push(value);
  }
  for (const [field, { name, values }] of groups) {
    const value = values.length === 1 ? values[0]! : values;
    if (name === field && field !== '__proto__') {
      if (field === 'set-cookie') reply.removeHeader(field); // Fastify appends set-cookie lines
      reply.header(field, value);
    } else {
      reply.removeHeader(field);
      reply.raw.setHeader(name, value);
    }
  }
}

/**
 * Sends a response the middleware decided on (a replay, 400, 409, 422, 403, 503) through
 * Fastify, so that the hooks of the app still see it. The body goes as a Buffer (Fastify
 * serialises nothing); an empty one as no payload, as Fastify sent the original.
 */
export function sendDraft(reply: FastifyReply, draft: ResponseDraft): FastifyReply {
  reply.code(draft.status);
  setReplyHeaderLines(reply, draft.headers);
  const body =
    typeof draft.body === 'string' ? Buffer.from(draft.body) : Buffer.from(draft.body.buffer, draft.body.byteOffset, draft.body.byteLength);
  return reply.send(body.byteLength === 0 ? undefined : body);
}

/** Whether Fastify sends `status` without a body (and, for a payload it drops, without its type). */
const dropsPayload = (status: number): boolean => status < 200 || status === 204;

const isNodeStream = (payload: unknown): payload is Readable =>
  payload !== null && typeof payload === 'object' && typeof (payload as Readable).pipe === 'function';
const isWebStream = (payload: unknown): payload is WebReadableStream =>
  payload !== null && typeof payload === 'object' && typeof (payload as WebReadableStream).getReader === 'function';
const isFetchResponse = (payload: unknown): payload is Response => Object.prototype.toString.call(payload) === '[object Response]';

/** What `onSend` hands on to Fastify, and when the response has been handed to the store. */
export interface Capture {
  /** The payload Fastify goes on with. */
  payload: unknown;
  /** Settles once the response is handed over (stored or not); for a stream, at its end. */
  recorded: Promise<void>;
  /** `payload` is a stream that ends only after `recorded` settles: do not wait for it before handing it on. */
  streamed: boolean;
}

/**
 * Records the response `onSend` sees, as Fastify will write it: the status, the header lines
 * (`replyHeaderLines`) and the body bytes (a string, a Buffer, a Node or web stream, a fetch
 * `Response`). `onEnd` gets it (or `undefined` when there is nothing to keep: a stream that
 * failed, a payload Fastify refuses, a body over `maxBytes`). For a string or Buffer,
 * `recorded` settles once `onEnd` has; for a stream, the stream handed on ends only after
 * `onEnd` settled, and a client that hangs up does not stop the recording: the handler's
 * stream is read to its end all the same.
 */
export function capturePayload(
  reply: FastifyReply,
  payload: unknown,
  maxBytes: number,
  onEnd: (response: StoredResponse | undefined) => Promise<void>,
): Capture {
  if (isFetchResponse(payload)) {
    // What Fastify itself does with a Response after onSend: its status and headers go on the reply.
    reply.code(payload.status);
    for (const [name, value] of payload.headers) reply.header(name, value);
    payload = payload.body;
  }
  if (isWebStream(payload)) payload = Readable.fromWeb(payload);
  const status = reply.statusCode;
  const headers = replyHeaderLines(reply);
  const dropped = payload !== null && payload !== undefined && dropsPayload(status);
  const kept = dropped ? headers.filter(([name]) => !['content-type', 'content-length'].includes(name.toLowerCase())) : headers;
  const bodiless = dropsPayload(status) || status === 304; // Node sends no body for 304 either
  if (isNodeStream(payload)) {
    if (bodiless) return { payload, recorded: onEnd({ status, headers: kept, body: new Uint8Array(0) }), streamed: false };
    return recordStream(payload, maxBytes, (body) => onEnd(body === undefined ? undefined : { status, headers: kept, body }));
  }
  let body: Uint8Array | undefined;
  if (payload === null || payload === undefined || bodiless) body = new Uint8Array(0);
  else if (typeof payload === 'string') body = Buffer.from(payload);
  else if (Buffer.isBuffer(payload)) body = payload;
  // Anything else Fastify refuses (FST_ERR_REP_INVALID_PAYLOAD_TYPE): its error reply follows.
  const response = body === undefined || body.byteLength > maxBytes ? undefined : { status, headers: kept, body };
  return { payload, recorded: onEnd(response), streamed: false };
}

/**
 * Reads `source` to its end, handing every chunk on to the stream returned (with its
 * backpressure) and keeping up to `maxBytes` of them; at the end `onEnd` gets the bytes
 * (`undefined` past `maxBytes`, or when `source` failed) and the returned stream ends once
 * it settled. If the returned stream is destroyed (the client hung up), `source` is still
 * read to its end, so what the handler sent is recorded all the same.
 */
function recordStream(source: Readable, maxBytes: number, onEnd: (body: Uint8Array | undefined) => Promise<void>): Capture {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  let size = 0;
  let settle!: () => void;
  const recorded = new Promise<void>((resolve) => (settle = resolve));
  source.on('data', (chunk: unknown) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array); // a copy
    if (size <= maxBytes) {
      size += bytes.byteLength;
      if (size > maxBytes) chunks.length = 0;
      else chunks.push(bytes);
    }
    if (out.destroyed) return;
    if (!out.write(bytes)) {
      source.pause();
      out.once('drain', () => source.resume());
    }
  });
  // Nobody reads `out` any more: read the rest of the handler's stream for the record.
  out.once('close', () => source.resume());
  finished(source, (err) => {
    const body = err === undefined || err === null ? (size > maxBytes ? undefined : Buffer.concat(chunks)) : undefined;
    onEnd(body)
      .catch(() => undefined)
      .then(() => {
        settle();
        if (err === undefined || err === null) out.end();
        else out.destroy(err);
      });
  });
  return { payload: out, recorded, streamed: true };
}

/**
 * A pass-through of the request body that keeps a copy of its bytes in `chunks` (for the
 * fingerprint), handed to Fastify's body parser in place of `payload`.
 */
export function tapRequestBody(payload: Readable, chunks: Buffer[]): Readable {
  const tap = new Transform({
    transform(chunk: Buffer | string, _encoding, callback) {
      chunks.push(Buffer.from(chunk)); // a copy: the socket's buffer is reused
      callback(null, chunk);
    },
  });
  payload.on('error', (err) => tap.destroy(err));
  return payload.pipe(tap);
}
