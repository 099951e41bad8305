import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import {
  normalizeContentType,
  OFFSET_NOW_SENTINEL,
  OFFSET_START_SENTINEL,
  StowageError,
  type StreamForkSpec,
  type StreamInfo,
  type StreamReadResult,
} from '@stowage/core';
import { readBody } from './body.js';
import { concatMessages } from './bytes.js';
import { nextCursor } from './cursor.js';
import { jsonArray, jsonBodyMessage, jsonPrefix } from './json.js';
import { resolveOptions, type ResolvedOptions, type StreamsServerOptions } from './options.js';
import {
  closedHeader,
  expiryHeaders,
  H,
  integerHeader,
  liveParam,
  offsetParam,
  producerHeaders,
  single,
  source,
} from './protocol.js';
import { baseHeaders, matchesEtag, METHODS, preflightHeaders, sendError } from './responses.js';
import { SseWriter, sseEncoding } from './sse.js';

/** Connect/Express-style continuation, called for requests outside `basePath`. */
export type Next = (err?: unknown) => void;

/** A `node:http` request listener that serves the Durable Streams protocol. */
export interface StreamsRequestHandler {
  (req: IncomingMessage, res: ServerResponse, next?: Next): void;
  /** Ends every live read now (long-polls answer 204, SSE responses end); later ones end at once. */
  close(): void;
}

interface Request {
  req: IncomingMessage;
  res: ServerResponse;
  /** The stream's name: the decoded path after `basePath`. */
  name: string;
  params: URLSearchParams;
}

const JSON_TYPE = 'application/json';
const EMPTY = Buffer.alloc(0);
const EMPTY_JSON = Buffer.from('[]');
const isJson = (contentType: string): boolean => normalizeContentType(contentType) === JSON_TYPE;
const noop = (): void => {};

/**
 * Serves the Durable Streams protocol over `options.store`. Mount it on any `node:http`
 * server, or as Connect/Express middleware (requests outside `basePath` go to `next`).
 */
export function createStreamsHandler(options: StreamsServerOptions): StreamsRequestHandler {
  const app = new StreamsApp(resolveOptions(options));
  const handler = ((req: IncomingMessage, res: ServerResponse, next?: Next) => app.handle(req, res, next)) as StreamsRequestHandler;
  handler.close = () => app.close();
  return handler;
}

class StreamsApp {
  private readonly base: Array<[string, string]>;
  private readonly live = new Set<AbortController>();
  private closed = false;

  constructor(private readonly o: ResolvedOptions) {
    this.base = baseHeaders(o);
  }

  close(): void {
    this.closed = true;
    for (const ac of this.live) ac.abort();
  }

  handle(req: IncomingMessage, res: ServerResponse, next?: Next): void {
    req.on('error', noop); // a client that goes away mid-body must not crash the process
    res.on('error', noop);
    for (const [k, v] of this.base) res.setHeader(k, v);
    let r: Request | undefined;
    try {
      r = this.route(req, res);
    } catch (err) {
      sendError(this.o, req, res, err);
      return;
    }
    if (r === undefined) {
      if (next !== undefined) next();
      else sendError(this.o, req, res, source.error('NOT_FOUND', `no stream at ${req.url}; streams live under ${this.o.basePath}`));
      return;
    }
    this.dispatch(r).catch((err: unknown) => sendError(this.o, req, res, err));
  }

  /** The stream a request names, or `undefined` when its path is outside `basePath`. */
  private route(req: IncomingMessage, res: ServerResponse): Request | undefined {
    const url = req.url ?? '/';
    let path: string;
    let query: string;
    if (url.startsWith('/')) {
      const q = url.indexOf('?');
      path = q < 0 ? url : url.slice(0, q);
      query = q < 0 ? '' : url.slice(q + 1);
    } else {
      // absolute-form (through a proxy): only its path and query count
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw source.invalid('the request target is not a path or an absolute URL');
      }
      path = parsed.pathname;
      query = parsed.search.slice(1);
    }
    const name = this.nameOf(path);
    if (name === undefined) return undefined;
    return { req, res, name, params: new URLSearchParams(query) };
  }

  /** The stream name of a path (or absolute URL), `undefined` when outside `basePath`. */
  private nameOf(pathOrUrl: string): string | undefined {
    let path = pathOrUrl;
    if (!path.startsWith('/')) {
      try {
        path = new URL(path).pathname;
      } catch {
        throw source.invalid(`${JSON.stringify(pathOrUrl.slice(0, 64))} is not a stream path`);
      }
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      throw source.invalid('the path is not valid percent-encoding');
    }
    if (!decoded.startsWith(this.o.basePath)) return undefined;
    return decoded.slice(this.o.basePath.length);
  }

  private dispatch(r: Request): Promise<void> {
    const method = r.req.method;
    if (method === 'OPTIONS') {
      r.res.writeHead(204, preflightHeaders(this.o)).end();
      return Promise.resolve();
    }
    if (r.name.length === 0) throw source.error('NOT_FOUND', `no stream name in the path; streams live under ${this.o.basePath}<name>`);
    switch (method) {
      case 'GET':
        return this.read(r);
      case 'POST':
        return this.append(r);
      case 'PUT':
        return this.create(r);
      case 'HEAD':
        return this.head(r);
      case 'DELETE':
        return this.delete(r);
      default:
        r.res.writeHead(405, { Allow: METHODS, 'Content-Length': 0 }).end();
        this.o.log(`${new Date().toISOString()} stowage-streams 405 ${method} ${r.req.url?.slice(0, 256)} METHOD_NOT_ALLOWED`);
        return Promise.resolve();
    }
  }

  // --- PUT: create, or find the same stream --------------------------------------------

  private async create(r: Request): Promise<void> {
    const h = r.req.headers;
    const contentType = contentTypeOf(r.req);
    const expiry = expiryHeaders(h);
    const closed = closedHeader(h);
    const fork = await this.forkSpec(r);
    const body = await readBody(r.req, this.o.maxBodyBytes);
    let messages: Uint8Array[] = [];
    if (body.length > 0) {
      const type = contentType ?? (fork === undefined ? undefined : (await this.o.store.head(fork.from))?.contentType);
      if (type !== undefined && isJson(type)) {
        const message = jsonBodyMessage(body);
        if (message !== undefined) messages = [message];
      } else {
        messages = [body];
      }
    }
    const result = await this.o.store.create(
      r.name,
      { contentType: contentType ?? (fork === undefined ? 'application/octet-stream' : undefined), ...expiry, closed },
      { messages, ...(fork === undefined ? {} : { fork }) },
    );
    const headers = infoHeaders(result.info);
    headers['Content-Length'] = 0;
    if (result.status === 'created') {
      headers['Location'] = locationOf(r.req);
      r.res.writeHead(201, headers).end();
    } else {
      r.res.writeHead(200, headers).end();
    }
  }

  /** The fork a create asks for; a sub-offset is resolved here (the server knows content types). */
  private async forkSpec(r: Request): Promise<StreamForkSpec | undefined> {
    const h = r.req.headers;
    const fromHeader = single(h, H.forkedFrom);
    const offset = single(h, H.forkOffset);
    const subOffset = integerHeader(h, H.forkSubOffset);
    if (fromHeader === undefined) {
      if (offset !== undefined || subOffset !== undefined) {
        throw source.invalid('Stream-Fork-Offset and Stream-Fork-Sub-Offset need Stream-Forked-From');
      }
      return undefined;
    }
    const from = this.nameOf(fromHeader);
    if (from === undefined || from.length === 0) {
      throw source.invalid(`Stream-Forked-From must name a stream under ${this.o.basePath}`);
    }
    if (subOffset === undefined || subOffset === 0) return { from, ...(offset === undefined ? {} : { offset }) };
    if (offset === undefined) throw source.invalid('a Stream-Fork-Sub-Offset above 0 needs Stream-Fork-Offset');
    let next: StreamReadResult;
    try {
      next = await this.o.store.read(from, offset, { maxMessages: 1 });
    } catch (err) {
      if (StowageError.is(err, 'GONE')) throw source.error('CONFLICT', `fork source ${from} was deleted`);
      throw err;
    }
    const message = next.messages[0];
    if (message === undefined) throw source.invalid('Stream-Fork-Sub-Offset needs a message after Stream-Fork-Offset');
    if (isJson(next.info.contentType)) {
      const { values, prefix } = jsonPrefix(message.data, subOffset);
      if (subOffset > values) {
        throw source.invalid(`Stream-Fork-Sub-Offset ${subOffset} is past the ${values} values of the message at the fork offset`);
      }
      return { from, offset, subOffset, prefix };
    }
    if (subOffset > message.data.byteLength) {
      throw source.invalid(`Stream-Fork-Sub-Offset ${subOffset} is past the ${message.data.byteLength} bytes of the message at the fork offset`);
    }
    return { from, offset, subOffset, prefix: message.data.subarray(0, subOffset) };
  }

  // --- POST: append, close ------------------------------------------------------------

  private async append(r: Request): Promise<void> {
    const h = r.req.headers;
    const close = closedHeader(h);
    const producer = producerHeaders(h);
    const seq = single(h, H.seq);
    const body = await readBody(r.req, this.o.maxBodyBytes);
    const headers: OutgoingHttpHeaders = {};
    if (body.length === 0) {
      if (!close) throw source.invalid('the body is empty: an append needs at least one byte (Stream-Closed: true closes)');
      const result = await this.o.store.closeStream(r.name, producer === undefined ? undefined : { producer });
      headers[H.nextOffset] = result.nextOffset;
      headers[H.closed] = 'true';
      producerResultHeaders(headers, result.producer);
      r.res.writeHead(204, headers).end();
      return;
    }
    const contentType = contentTypeOf(r.req);
    if (contentType === undefined) throw source.invalid('Content-Type is required on an append');
    let message: Uint8Array = body;
    if (isJson(contentType)) {
      const values = jsonBodyMessage(body);
      if (values === undefined) throw source.invalid('an empty JSON array appends nothing');
      message = values;
    }
    const result = await this.o.store.append(r.name, [message], {
      contentType,
      ...(seq === undefined ? {} : { seq }),
      ...(producer === undefined ? {} : { producer }),
      close,
    });
    headers[H.nextOffset] = result.nextOffset;
    if (result.closed) headers[H.closed] = 'true';
    producerResultHeaders(headers, result.producer);
    r.res.writeHead(producer !== undefined && !result.duplicate ? 200 : 204, headers).end();
  }

  // --- HEAD, DELETE -------------------------------------------------------------------

  private async head(r: Request): Promise<void> {
    const info = await this.existing(r.name);
    const headers = infoHeaders(info);
    headers['Cache-Control'] = 'no-store';
    if (info.ttlMs !== undefined) headers[H.ttl] = String(Math.round(info.ttlMs / 1000));
    if (info.expiresAt !== undefined) headers[H.expiresAt] = new Date(info.expiresAt).toISOString();
    r.res.writeHead(200, headers).end();
  }

  private async delete(r: Request): Promise<void> {
    if (!(await this.o.store.delete(r.name))) throw source.error('NOT_FOUND', `stream ${r.name} does not exist`);
    r.res.writeHead(204).end();
  }

  // --- GET: catch-up, long-poll, SSE --------------------------------------------------

  private async read(r: Request): Promise<void> {
    const offset = offsetParam(r.params);
    const live = liveParam(r.params);
    if (live !== undefined && offset === undefined) throw source.invalid(`live=${live} needs an offset (-1, now or an offset)`);
    if (live === 'sse') return this.sse(r, offset!);
    if (live === 'long-poll') return this.longPoll(r, offset!);
    if (offset === OFFSET_NOW_SENTINEL) return this.readNow(r);
    const from = offset ?? OFFSET_START_SENTINEL;
    this.sendRead(r, await this.readFrom(r.name, from), from, undefined);
  }

  private readFrom(name: string, from: string): Promise<StreamReadResult> {
    return this.o.store.read(name, from, { maxBytes: this.o.readMaxBytes });
  }

  /** `offset=now`: no data, the tail; a read all the same (renews an idle TTL). */
  private async readNow(r: Request): Promise<void> {
    const info = await this.existing(r.name);
    const { info: now } = await this.o.store.read(r.name, info.nextOffset, { maxMessages: 1, maxBytes: 1 });
    const headers: OutgoingHttpHeaders = {
      'Content-Type': now.contentType,
      'Cache-Control': 'no-store',
      [H.nextOffset]: now.nextOffset,
      [H.upToDate]: 'true',
    };
    if (now.closed) headers[H.closed] = 'true';
    const body = isJson(now.contentType) ? EMPTY_JSON : EMPTY;
    headers['Content-Length'] = body.length;
    r.res.writeHead(200, headers).end(body);
  }

  private sendRead(r: Request, result: StreamReadResult, from: string, cursor: string | undefined): void {
    const ended = result.closed && result.atTail;
    const etag = `"${result.info.id}:${from}:${result.nextOffset}${ended ? ':closed' : ''}"`;
    const headers: OutgoingHttpHeaders = {
      'Content-Type': result.info.contentType,
      // A response that reaches the tail grows later: revalidate it (ETag) rather than cache it.
      'Cache-Control': result.atTail && cursor === undefined ? 'no-cache' : this.o.cacheControl,
      ETag: etag,
      [H.nextOffset]: result.nextOffset,
    };
    if (result.atTail) headers[H.upToDate] = 'true';
    if (ended) headers[H.closed] = 'true';
    if (cursor !== undefined) headers[H.cursor] = cursor;
    if (matchesEtag(r.req, etag)) {
      r.res.writeHead(304, headers).end();
      return;
    }
    const body = isJson(result.info.contentType) ? jsonArray(result.messages) : concatMessages(result.messages);
    headers['Content-Length'] = body.length;
    r.res.writeHead(200, headers).end(body);
  }

  /** 204 of a live read with nothing new: the tail, and whether the stream is closed. */
  private sendNoData(r: Request, tail: string, cursor: string, closed: boolean): void {
    const headers: OutgoingHttpHeaders = { 'Cache-Control': 'no-store', [H.nextOffset]: tail, [H.upToDate]: 'true' };
    if (closed) headers[H.closed] = 'true';
    else headers[H.cursor] = cursor;
    r.res.writeHead(204, headers).end();
  }

  private async longPoll(r: Request, offset: string): Promise<void> {
    const cursor = nextCursor(r.params.get('cursor'));
    let from: string;
    if (offset === OFFSET_NOW_SENTINEL) {
      const info = await this.existing(r.name);
      if (info.closed) return this.sendNoData(r, info.nextOffset, cursor, true);
      from = info.nextOffset;
    } else {
      const first = await this.readFrom(r.name, offset);
      if (first.messages.length > 0) return this.sendRead(r, first, offset, cursor);
      if (first.closed) return this.sendNoData(r, first.nextOffset, cursor, true);
      from = first.nextOffset;
    }
    const outcome = await this.liveWait(r, from, this.o.longPollTimeoutMs);
    if (outcome === 'missing') throw source.error('NOT_FOUND', `stream ${r.name} was deleted`);
    if (outcome === 'data' || outcome === 'closed') {
      const next = await this.readFrom(r.name, from);
      if (next.messages.length > 0) return this.sendRead(r, next, from, cursor);
      return this.sendNoData(r, next.nextOffset, cursor, next.closed);
    }
    if (!r.res.destroyed) this.sendNoData(r, from, cursor, false);
  }

  private async sse(r: Request, offset: string): Promise<void> {
    let pending: StreamReadResult | undefined;
    let info: StreamInfo;
    let from = offset;
    if (offset === OFFSET_NOW_SENTINEL) {
      info = await this.existing(r.name);
      from = info.nextOffset;
    } else {
      pending = await this.readFrom(r.name, offset);
      info = pending.info;
    }
    const encoding = sseEncoding(normalizeContentType(info.contentType));
    const headers: OutgoingHttpHeaders = {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
    };
    if (encoding === 'base64') headers[H.sseEncoding] = 'base64';
    r.res.writeHead(200, headers);
    const sse = new SseWriter(r.res, encoding);
    const cursor = nextCursor(r.params.get('cursor'));
    const deadline = Date.now() + this.o.sseMaxDurationMs;
    let announced = false;
    for (;;) {
      if (pending !== undefined) {
        from = pending.nextOffset;
        const ended = pending.closed && pending.atTail;
        const hasData = pending.messages.length > 0;
        if (hasData) sse.data(pending.messages);
        if (hasData || ended || !announced) {
          sse.control(
            ended
              ? { streamNextOffset: from, streamClosed: true, upToDate: true }
              : { streamNextOffset: from, streamCursor: cursor, ...(pending.atTail ? { upToDate: true as const } : {}) },
          );
          announced = true;
        }
        if (ended) break;
        if (!pending.atTail) {
          pending = await this.readFrom(r.name, from);
          continue;
        }
      } else if (!announced) {
        // offset=now: start at the tail
        sse.control(
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
      const outcome = await this.liveWait(r, from, Math.min(remaining, this.o.sseHeartbeatMs));
      if (outcome === 'data' || outcome === 'closed') pending = await this.readFrom(r.name, from);
      else if (outcome === 'timeout') sse.heartbeat();
      else break; // missing, aborted
    }
    r.res.end();
  }

  /** `store.wait`, ended early when the client goes away or the server closes. */
  private async liveWait(r: Request, from: string, timeoutMs: number) {
    const ac = new AbortController();
    const abort = (): void => ac.abort();
    if (this.closed) ac.abort();
    this.live.add(ac);
    r.res.once('close', abort);
    try {
      return await this.o.store.wait(r.name, from, timeoutMs, ac.signal);
    } finally {
      this.live.delete(ac);
      r.res.off('close', abort);
    }
  }

  /** The stream's metadata; a missing stream is `NOT_FOUND`, or `GONE` when kept for its forks. */
  private async existing(name: string): Promise<StreamInfo> {
    const info = await this.o.store.head(name);
    if (info !== undefined) return info;
    // Let a read say why (deleted but kept for forks: GONE), then fall back to NOT_FOUND.
    await this.o.store.read(name, OFFSET_START_SENTINEL, { maxMessages: 1, maxBytes: 1 });
    throw source.error('NOT_FOUND', `stream ${name} does not exist`);
  }
}

function contentTypeOf(req: IncomingMessage): string | undefined {
  const value = req.headers['content-type'];
  return value === undefined || value.trim().length === 0 ? undefined : value;
}

function infoHeaders(info: StreamInfo): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { 'Content-Type': info.contentType, [H.nextOffset]: info.nextOffset };
  if (info.closed) headers[H.closed] = 'true';
  return headers;
}

function producerResultHeaders(headers: OutgoingHttpHeaders, producer: { epoch: number; seq: number } | undefined): void {
  if (producer === undefined) return;
  headers[H.producerEpoch] = String(producer.epoch);
  headers[H.producerSeq] = String(producer.seq);
}

/** The absolute URL of the request (Location of a 201). */
function locationOf(req: IncomingMessage): string {
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  const host = req.headers.host ?? `${req.socket.localAddress}:${req.socket.localPort}`;
  const path = (req.url ?? '/').split('?')[0]!;
  return `${encrypted ? 'https' : 'http'}://${host}${path.startsWith('/') ? path : new URL(path).pathname}`;
}
