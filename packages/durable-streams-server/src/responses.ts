import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { StowageError, type StowageErrorCode, type StreamInfo } from '@stowage/core';
import { ALLOWED_HEADERS, EXPOSED_HEADERS, RESPONSE_HEADER } from './protocol.js';
import { answerThenLinger } from './linger.js';
import { pathOf, requestIdOf } from './log.js';
import { serverSideMessage } from './server-side.js';
import { isClientLeft } from './read-gate.js';
import type { ErrorLine, ResolvedOptions } from './options.js';

const STATUS: Record<StowageErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  PAYLOAD_TOO_LARGE: 413,
  NOT_FOUND: 404,
  CONFLICT: 409,
  FENCED: 403,
  GONE: 410,
  UNAVAILABLE: 503,
  TIMEOUT: 503,
  CORRUPT: 500,
  INTERNAL: 500,
};

/**
 * The store's names for what a request carries, as the protocol names them: a store refusing
 * `opts.fork.offset` was given a bad `Stream-Fork-Offset`.
 */
const PROTOCOL_TERMS: Record<string, string> = {
  'opts.fork.from': 'the stream name of Stream-Forked-From',
  'opts.fork.offset': 'Stream-Fork-Offset',
  'opts.fork.subOffset': 'Stream-Fork-Sub-Offset',
  'opts.contentType': 'Content-Type',
  'config.contentType': 'Content-Type',
  'config.ttlMs': 'Stream-TTL',
  'config.expiresAt': 'Stream-Expires-At',
  'config.closed': 'Stream-Closed',
  'opts.close': 'Stream-Closed',
  'opts.seq': 'Stream-Seq',
  'opts.messages': 'the body',
  'producer.id': 'Producer-Id',
  'producer.epoch': 'Producer-Epoch',
  'producer.seq': 'Producer-Seq',
};

/**
 * An error message as a client reads it: without the `@stowage/<package> <Class>: ` labels
 * errors carry for the log (`@stowage/stores-sqlite SqliteStreamStore: stream a is closed`
 * is `stream a is closed`), and with the store's argument names in the protocol's terms, so
 * a body names the problem, never the code that found it.
 */
export function publicMessage(message: string): string {
  return (
    message
      .replace(/@stowage\/[a-z0-9-]+ [A-Za-z]\w*: /g, '')
      // A stream store's `name` argument is the stream's name (the path after basePath).
      .replace(/^name (?=must )/, 'the stream name ')
      .replace(/\b(?:opts|config|producer)\.[A-Za-z.]*[A-Za-z]/g, (field) => PROTOCOL_TERMS[field] ?? field.slice(field.indexOf('.') + 1))
  );
}

export const METHODS = 'GET, HEAD, PUT, POST, DELETE, OPTIONS';

/**
 * What every response of ours says about running its body: nothing. A stream's body is
 * whatever a writer sent, with the Content-Type it chose; served from this origin as
 * `text/html` or `image/svg+xml` it would run its scripts there (stored XSS in the app the
 * handler is mounted in). `sandbox` gives an opened document a unique origin and no scripts;
 * `default-src 'none'` loads nothing. Neither touches `fetch` or `EventSource` reads.
 */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; sandbox";

/** Headers every response of ours carries (security, CORS), as a hoisted list of pairs. */
export function baseHeaders(o: ResolvedOptions): Array<[string, string]> {
  const pairs: Array<[string, string]> = [
    ['Content-Security-Policy', CONTENT_SECURITY_POLICY],
    ['X-Content-Type-Options', 'nosniff'],
    ['Cross-Origin-Resource-Policy', o.crossOriginResourcePolicy],
  ];
  if (o.corsOrigin !== false) {
    pairs.push(['Access-Control-Allow-Origin', o.corsOrigin], ['Access-Control-Expose-Headers', EXPOSED_HEADERS]);
    if (o.corsOrigin !== '*') pairs.push(['Vary', 'Origin']);
  }
  return pairs;
}

/** The answer to OPTIONS: `Allow`, and the CORS preflight headers unless CORS is off. */
export function preflightHeaders(o: ResolvedOptions, methods: string = METHODS): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { Allow: methods };
  if (o.corsOrigin !== false) {
    headers['Access-Control-Allow-Methods'] = methods;
    headers['Access-Control-Allow-Headers'] = ALLOWED_HEADERS;
    headers['Access-Control-Max-Age'] = '86400';
  }
  return headers;
}

/** The protocol headers an error carries (closed stream, producer sequence, fencing). */
function errorHeaders(e: StowageError, headers: OutgoingHttpHeaders): void {
  const d = e.details;
  if (d === undefined) return;
  if (d['closed'] === true) {
    headers[RESPONSE_HEADER.closed] = 'true';
    if (typeof d['nextOffset'] === 'string') headers[RESPONSE_HEADER.nextOffset] = d['nextOffset'];
  }
  if (typeof d['expectedSeq'] === 'number') headers[RESPONSE_HEADER.producerExpectedSeq] = String(d['expectedSeq']);
  if (typeof d['receivedSeq'] === 'number') headers[RESPONSE_HEADER.producerReceivedSeq] = String(d['receivedSeq']);
  if (typeof d['currentEpoch'] === 'number') headers[RESPONSE_HEADER.producerEpoch] = String(d['currentEpoch']);
}

/** One error line: the request's id, status, method, path (without the query), code, message (single line, bounded). */
export function logLine(req: IncomingMessage, status: number, code: string, message: string): ErrorLine {
  const text = message.replace(/[\r\n]+/g, ' ').slice(0, 512);
  return { reqId: requestIdOf(req), status, code, message: text, method: req.method ?? '-', path: pathOf(req.url) };
}

/**
 * Answers an error: the status of its code, its protocol headers, a JSON body, one log line.
 * A response already under way (SSE) is cut instead, so the client reconnects; one already
 * complete is left alone (its connection may carry the next request).
 */
export function sendError(o: ResolvedOptions, req: IncomingMessage, res: ServerResponse, err: unknown): void {
  const e = StowageError.from(err);
  const status = STATUS[e.code] ?? 500;
  if (isClientLeft(err)) return;
  const cause = e.cause instanceof Error && e.cause.message !== e.message ? ` (cause: ${e.cause.message})` : '';
  if (res.headersSent && !res.writableEnded) {
    // Under way (SSE): the client got this status, not the error's; it sees the response end.
    o.log(logLine(req, res.statusCode, e.code, `the response was cut after it began: ${e.message}${cause}`));
    res.destroy();
    return;
  }
  o.log(logLine(req, status, e.code, e.message + cause));
  if (res.writableEnded) return;
  const headers: OutgoingHttpHeaders = { 'Cache-Control': 'no-store' };
  errorHeaders(e, headers);
  if (e.code === 'UNAVAILABLE' || e.code === 'TIMEOUT') headers['Retry-After'] = '1';
  const message = serverSideMessage(e, req, o.basePath) ?? publicMessage(e.message);
  const body = req.method === 'HEAD' ? undefined : JSON.stringify({ error: { code: e.code, message } });
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json; charset=utf-8';
    headers['Content-Length'] = Buffer.byteLength(body);
  }
  if (e.code === 'PAYLOAD_TOO_LARGE') {
    headers['Connection'] = 'close';
    // The client is still sending the body: answer now, then close gently (see linger.ts).
    if (!req.complete) {
      answerThenLinger(req, res.writeHead(status, headers), body);
      return;
    }
  }
  res.writeHead(status, headers).end(body);
}

/**
 * A whole answer written on the socket itself (a request Node could not parse, a CONNECT):
 * the same JSON error body as every other refusal, then the connection closes. The body is
 * left out when the request may have been a HEAD (`method` unknown), whose answer has none.
 */
export function rawErrorAnswer(
  method: string | undefined,
  status: number,
  reason: string,
  error: { code: string; message: string },
  extraHeaders = '',
): string {
  const head = `HTTP/1.1 ${status} ${reason}\r\n${extraHeaders}Connection: close\r\nCache-Control: no-store\r\n`;
  if (method === undefined || method === 'HEAD') return `${head}Content-Length: 0\r\n\r\n`;
  const body = JSON.stringify({ error });
  return `${head}Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** 405 with `Allow` and a JSON body naming the methods; one log line. */
export function sendMethodNotAllowed(o: ResolvedOptions, req: IncomingMessage, res: ServerResponse, allow: string, message: string): void {
  o.log(logLine(req, 405, 'METHOD_NOT_ALLOWED', message));
  const body = JSON.stringify({ error: { code: 'METHOD_NOT_ALLOWED', message: `${message} (allowed: ${allow})` } });
  const headers: OutgoingHttpHeaders = { Allow: allow, 'Cache-Control': 'no-store', 'Content-Type': 'application/json; charset=utf-8' };
  headers['Content-Length'] = Buffer.byteLength(body);
  res.writeHead(405, headers).end(req.method === 'HEAD' ? undefined : body);
}

/**
 * 417 to an `Expect` other than `100-continue` (RFC 9110 section 10.1.1), which Node would
 * answer itself with no body and no line.
 */
export function sendExpectationFailed(o: ResolvedOptions, req: IncomingMessage, res: ServerResponse): void {
  const meets = 'is not an expectation this server meets (only 100-continue)';
  const given = String(req.headers.expect ?? '').slice(0, 100);
  sendRefusal(o, req, res, {
    status: 417,
    code: 'EXPECTATION_FAILED',
    message: `Expect: ${JSON.stringify(given)} ${meets}`,
    logged: `Expect: "…" ${meets}`,
  });
}

/** A request refused for how it is framed or coded, before anything reads its body. */
export interface Refusal {
  status: number;
  code: string;
  /** For the client: it may quote what the client sent. */
  message: string;
  /** For the log line: no value the client sent. */
  logged: string;
}

/**
 * Answers `refusal` without reading the body the client may still send: answered, then the
 * connection closes gently (see linger.ts).
 */
export function sendRefusal(o: ResolvedOptions, req: IncomingMessage, res: ServerResponse, refusal: Refusal): void {
  o.log(logLine(req, refusal.status, refusal.code, refusal.logged));
  const body = JSON.stringify({ error: { code: refusal.code, message: refusal.message } });
  const headers: OutgoingHttpHeaders = {
    'Cache-Control': 'no-store',
    'Content-Type': 'application/json; charset=utf-8',
    Connection: 'close',
  };
  headers['Content-Length'] = Buffer.byteLength(body);
  answerThenLinger(req, res.writeHead(refusal.status, headers), req.method === 'HEAD' ? undefined : body);
}

/** The headers that describe a stream: its media type, tail and closed state. */
export function infoHeaders(info: StreamInfo): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { 'Content-Type': info.contentType, [RESPONSE_HEADER.nextOffset]: info.nextOffset };
  if (info.closed) headers[RESPONSE_HEADER.closed] = 'true';
  return headers;
}

/** Whether `If-None-Match` names `etag` (or `*`). */
export function matchesEtag(req: IncomingMessage, etag: string): boolean {
  const header = req.headers['if-none-match'];
  if (header === undefined) return false;
  for (const part of header.split(',')) {
    const tag = part.trim();
    if (tag === '*' || tag === etag || (tag.startsWith('W/') && tag.slice(2) === etag)) return true;
  }
  return false;
}
