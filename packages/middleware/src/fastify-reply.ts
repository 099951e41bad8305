import { type ServerResponse, validateHeaderName, validateHeaderValue } from 'node:http';
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
 * Puts `reply`'s headers back to `lines` (what `replyHeaderLines` gave earlier) if they
 * changed since: names added meanwhile are removed, changed ones set back.
 */
export function restoreReplyHeaderLines(reply: FastifyReply, lines: HeaderLines): void {
  const now = replyHeaderLines(reply);
  if (now.length === lines.length && now.every(([name, value], i) => name === lines[i]![0] && value === lines[i]![1])) return;
  for (const [name] of now) {
    reply.removeHeader(name.toLowerCase());
    reply.raw.removeHeader(name);
  }
  setReplyHeaderLines(reply, lines);
}

/** Types whose payload is a string when Fastify's serialisers made it. */
const TEXTUAL = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded)\b|[^;]*\+(json|xml)\b)|;\s*charset=/i;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** `body` as the `onSend` hooks saw it first: a string for a textual type in valid UTF-8, else a Buffer. */
function payloadOf(draft: ResponseDraft): string | Buffer | undefined {
  const { body } = draft;
  if (body.length === 0) return undefined; // as Fastify sent the original
  const type = draft.headers.find(([name]) => name.toLowerCase() === 'content-type')?.[1] ?? '';
  // A string of a JSON type without a charset would get one from Fastify: such a body was not a string.
  if (TEXTUAL.test(type) && !(/json/i.test(type) && !/;\s*charset=/i.test(type))) {
    if (typeof body === 'string') return body;
    try {
      return utf8.decode(body);
    } catch {
      // not UTF-8 after all: the bytes as they are
    }
  }
  return typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * Sends a response the middleware decided on (a replay, 400, 409, 422, 403, 503) through
 * Fastify, so that the hooks of the app still see it: Fastify serialises nothing, and a
 * textual body in UTF-8 goes as a string, a JSON reply as the hooks after the plugin saw it
 * the first time; any other body as a Buffer, and an empty one as no payload.
 */
export function sendDraft(reply: FastifyReply, draft: ResponseDraft): FastifyReply {
  reply.code(draft.status);
  setReplyHeaderLines(reply, draft.headers);
  return reply.send(payloadOf(draft));
}

/** Whether Fastify sends `status` without a body (and, for a payload it drops, without its type). */
const dropsPayload = (status: number): boolean => status < 200 || status === 204;

const isNodeStream = (payload: unknown): payload is Readable =>
  payload !== null && typeof payload === 'object' && typeof (payload as Readable).pipe === 'function';
const isWebStream = (payload: unknown): payload is WebReadableStream =>
  payload !== null && typeof payload === 'object' && typeof (payload as WebReadableStream).getReader === 'function';
const isFetchResponse = (payload: unknown): payload is Response => Object.prototype.toString.call(payload) === '[object Response]';

/** What `onSend` hands on to Fastify, and the response it will send. */
export type Capture =
  /** A string, a Buffer or nothing: `response` is what it sends (`undefined`: nothing to keep). */
  | { streamed: false; payload: unknown; response: StoredResponse | undefined }
  /**
   * A stream, handed on in `payload`: it ends only once `onStreamEnd` (see `capturePayload`)
   * settled. After `detach()` (a later reply replaced it) it hands nothing more on, not even
   * what it holds unread, and never ends; the handler's stream is still read to its end.
   */
  | { streamed: true; payload: Readable; detach(): void };

/**
 * Records the response `onSend` sees, as Fastify will write it: the status, the header lines
 * (`replyHeaderLines`) and the body bytes (a string, a Buffer, a Node or web stream, a fetch
 * `Response`). The response is `undefined` when there is nothing to keep: a stream that
 * failed, a payload Fastify refuses, a body over `maxBytes`. A string or Buffer is recorded
 * at once; a stream is handed on through a pass-through that ends only after
 * `onStreamEnd(response)` settled, and a client that hangs up does not stop the recording:
 * the handler's stream is read to its end all the same.
 */
export function capturePayload(
  reply: FastifyReply,
  payload: unknown,
  maxBytes: number,
  onStreamEnd: (response: StoredResponse | undefined, failed: boolean) => Promise<void>,
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
  // A head Node refuses to write (a header value with a character it rejects): Fastify answers 500, nothing to keep.
  const writable = kept.every(([name, value]) => isWritableHeader(name, value));
  if (isNodeStream(payload)) {
    // Fastify pipes a stream whatever the status (Node writes no body for 204 and 304): it may still fail.
    return recordStream(payload, maxBytes, (body, failed) =>
      onStreamEnd(
        body === undefined || !writable ? undefined : { status, headers: kept, body: bodiless ? new Uint8Array(0) : body },
        failed,
      ),
    );
  }
  let body: Uint8Array | undefined;
  if (payload === null || payload === undefined || bodiless) body = new Uint8Array(0);
  else if (typeof payload === 'string') body = Buffer.from(payload);
  else if (Buffer.isBuffer(payload)) body = payload;
  // Anything else Fastify refuses (FST_ERR_REP_INVALID_PAYLOAD_TYPE): its error reply follows.
  const response = body === undefined || body.byteLength > maxBytes || !writable ? undefined : { status, headers: kept, body };
  return { streamed: false, payload, response };
}

function isWritableHeader(name: string, value: string): boolean {
  try {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads `source` to its end, handing every chunk on to the stream returned (with its
 * backpressure) and keeping up to `maxBytes` of them; at the end `onEnd` gets the bytes
 * (`undefined` past `maxBytes`, or when `source` failed) and the returned stream ends once
 * it settled. If the returned stream is destroyed (the client hung up), `source` is still
 * read to its end, so what the handler sent is recorded all the same.
 */
function recordStream(
  source: Readable,
  maxBytes: number,
  onEnd: (body: Uint8Array | undefined, failed: boolean) => Promise<void>,
): Capture {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  let size = 0;
  let detached = false;
  const detach = () => {
    detached = true;
    out.unpipe(); // from the response, if Fastify piped it already
    while (out.read() !== null); // what it has not handed on yet
    source.destroy(); // nothing of it is wanted now, as Fastify destroys a stream it stops sending
  };
  source.on('data', (chunk: unknown) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array); // a copy
    if (size <= maxBytes) {
      size += bytes.byteLength;
      if (size > maxBytes) chunks.length = 0;
      else chunks.push(bytes);
    }
    if (out.destroyed || detached) return;
    if (!out.write(bytes)) {
      source.pause();
      out.once('drain', () => source.resume());
    }
  });
  // Nobody reads `out` any more: read the rest of the handler's stream for the record.
  out.once('close', () => source.resume());
  // The handler's stream may fail before Fastify pipes `out` (a later onSend hook still
  // running): Fastify finds the error then; meanwhile it must not be an uncaught one.
  out.on('error', () => undefined);
  finished(source, (err) => {
    const body = err === undefined || err === null ? (size > maxBytes ? undefined : Buffer.concat(chunks)) : undefined;
    onEnd(body, err !== undefined && err !== null)
      .catch(() => undefined)
      .then(() => {
        if (detached) return; // the reply that replaced it ends the response, and Fastify this stream
        if (err === undefined || err === null) out.end();
        else out.destroy(err);
      });
  });
  return { streamed: true, payload: out, detach };
}

/** The request body's bytes as read so far; `open` false stops the copying. */
export interface BodyTap {
  chunks: Buffer[];
  open: boolean;
}

/**
 * A pass-through of the request body that keeps a copy of its bytes in `tap.chunks` (for the
 * fingerprint) while `tap.open`, handed to Fastify's body parser in place of `payload`.
 */
export function tapRequestBody(payload: Readable, tap: BodyTap): Readable {
  const through = new Transform({
    transform(chunk: Buffer | string, _encoding, callback) {
      if (tap.open) tap.chunks.push(Buffer.from(chunk)); // a copy: the socket's buffer is reused
      callback(null, chunk);
    },
  });
  payload.on('error', (err) => through.destroy(err));
  return payload.pipe(through);
}
