import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { OFFSET_NOW_SENTINEL, OFFSET_START_SENTINEL } from '@stowage/core';
import { ConnectionOrder } from './connection-order.js';
import { HEALTH_LIVE, HEALTH_READY, isHealthPath, serveHealth } from './health-routes.js';
import { Landing } from './landing.js';
import { Heartbeats } from './heartbeats.js';
import { LiveWaits } from './live-waits.js';
import { logAccess, requestIdOf } from './log.js';
import { longPoll } from './long-poll.js';
import { resolveOptions, type ResolvedOptions, type StreamsServerOptions } from './options.js';
import { liveParam, offsetParam, source } from './protocol.js';
import { ReadGate } from './read-gate.js';
import { catchUp, head, readNow } from './reads.js';
import type { HandlerContext, StreamRequest } from './request.js';
import {
  baseHeaders,
  logLine,
  METHODS,
  preflightHeaders,
  sendError,
  sendExpectationFailed,
  sendMethodNotAllowed,
  sendRefusal,
} from './responses.js';
import { answeredRaw } from './raw-answer.js';
import { routeOf, type Route } from './route.js';
import { SendLimit } from './send-limit.js';
import { sse } from './sse-read.js';
import { isReserved, serveReserved } from './subscription-routes.js';
import { SubscriptionRuntime } from './subscription-runtime.js';
import { streamsTelemetry } from './telemetry.js';
import type { WebhookKeys } from './webhook-keys.js';
import { append, create, remove } from './writes.js';
import { codingRefusal } from './body-coding.js';

/** The `Expect` values Node answers with `100 Continue` ('checkContinue'), as Node matches them. */
const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;

/** Connect/Express-style continuation, called for requests outside `basePath`. */
export type Next = (err?: unknown) => void;

/** A `node:http` request listener that serves the Durable Streams protocol. */
export interface StreamsRequestHandler {
  (req: IncomingMessage, res: ServerResponse, next?: Next): void;
  /**
   * Ends every live read now (long-polls answer 204, SSE responses end); later ones end at once.
   * From then on `{basePath}__ds/health/ready` answers 503 and every response closes its connection.
   * With subscriptions: stops polling the store and aborts webhook POSTs under way (the store
   * retries their wakes).
   */
  close(): void;
  /**
   * Subscriptions with webhooks: adds a new Ed25519 signing key that signs every delivery
   * from now on (on other replicas within 30 s); the replaced keys stay in the JWKS for
   * `replacedKeyTtlMs`, so deliveries signed before still verify. Resolves to the new key id.
   * Rejects (`INVALID_ARGUMENT`) when the server has no signing key ring.
   */
  rotateSigningKey(): Promise<string>;
  /**
   * Live readers (long-poll, SSE) waiting for data now. Readers of one stream waiting at the
   * same offset share one `store.wait`, so the store sees fewer waits than this.
   */
  readonly waitingReaders: number;
}

const noop = (): void => {};

/** The app behind each handler, for `createStreamsServer` (the answers it writes itself, see `refuseOn`). */
const apps = new WeakMap<StreamsRequestHandler, StreamsApp>();

/**
 * Serves the Durable Streams protocol over `options.store`. Mount it on any `node:http`
 * server, or as Connect/Express middleware (requests outside `basePath` go to `next`).
 * It never throws and never leaves a rejected promise: every failure of a request is answered
 * (or its response cut, once under way) and logged as one line. The requests of one
 * connection (pipelined) run one after another, in order.
 */
export function createStreamsHandler(options: StreamsServerOptions): StreamsRequestHandler {
  const resolved = resolveOptions(options);
  // Undefined without @opentelemetry/api, or with `telemetry: false`: then nothing is wrapped.
  const telemetry = resolved.telemetry ? streamsTelemetry(resolved.store) : undefined;
  const app = new StreamsApp(telemetry === undefined ? resolved : { ...resolved, store: telemetry.store }, telemetry?.waiting);
  const handle = (req: IncomingMessage, res: ServerResponse, next?: Next): void => app.handle(req, res, next);
  const handler = (telemetry === undefined ? handle : telemetry.traced(handle)) as StreamsRequestHandler;
  handler.close = () => {
    app.close();
    telemetry?.close();
  };
  Object.defineProperty(handler, 'waitingReaders', { get: () => app.live.waiting });
  handler.rotateSigningKey = async () => {
    if (app.subs === undefined) throw source.invalid('subscriptions are not enabled on this server');
    return app.subs.rotateSigningKey();
  };
  apps.set(handler, app);
  return handler;
}

/** For `createStreamsServer`: the origin it listens on, for callback URLs when no request gives one. */
export function listeningAt(handler: StreamsRequestHandler, origin: string): void {
  apps.get(handler)!.subs?.setListenOrigin(origin);
}

/** For the CLI: the server's webhook signing keys (re-sealed at start), when it has subscriptions. */
export function webhookKeysOf(handler: StreamsRequestHandler): WebhookKeys | undefined {
  return apps.get(handler)?.subs?.keys;
}

/** For `createStreamsServer`'s close: resolves once no subscription work runs in the background. */
export function backgroundSettled(handler: StreamsRequestHandler): Promise<void> {
  return apps.get(handler)!.subs?.settled() ?? Promise.resolve();
}

/**
 * For `createStreamsServer`'s 'clientError' and 'connect': the raw answer (`status`; see
 * `ConnectionOrder.refuse` for `answer`'s method and `firstMethod`) to a request Node could
 * not parse on `socket`, or to a CONNECT, goes out in its place among the
 * handler's requests there (see `ConnectionOrder.refuse`); a request of the handler that it
 * answers is not answered or logged again, and its access line says `status`.
 */
export function refuseOn(
  handler: StreamsRequestHandler,
  socket: Socket,
  status: number,
  answer: (method: string | undefined) => string,
  firstMethod?: string,
): void {
  const app = apps.get(handler)!;
  const res = app.order.refuse(socket, answer, firstMethod);
  if (res === undefined) return;
  app.refused.add(res.req);
  // Answered on the socket, not through `res`: unless its own head went out first (then it was cut).
  if (!res.headersSent) answeredRaw(res, status);
}

class StreamsApp implements HandlerContext {
  readonly live: LiveWaits;
  readonly heartbeats: Heartbeats;
  readonly reads: ReadGate;
  readonly sends: SendLimit;
  readonly order = new ConnectionOrder();
  /** Requests answered by the server's parse-error answer: their own failure adds nothing. */
  readonly refused = new WeakSet<IncomingMessage>();
  readonly subs: SubscriptionRuntime | undefined;
  /** Set by `close()`: readiness answers 503, and every response closes its connection. */
  closing = false;
  /** Our responses begun before `close()`, until served: those whose head is not sent then get `Connection: close`. */
  private readonly open = new Set<ServerResponse>();
  private readonly base: Array<[string, string]>;
  private readonly landing: Landing;

  constructor(
    readonly o: ResolvedOptions,
    countWaiting?: (delta: number) => void,
  ) {
    this.live = new LiveWaits(o.store, countWaiting);
    this.heartbeats = new Heartbeats(o.sseHeartbeatMs);
    this.reads = new ReadGate(o.readConcurrency, o.readQueueTimeoutMs);
    this.sends = new SendLimit(o.sendTimeoutMs, o.log);
    this.base = baseHeaders(o);
    this.landing = new Landing(o);
    this.subs = o.subscriptions === undefined ? undefined : new SubscriptionRuntime(o, o.subscriptions);
  }

  close(): void {
    this.closing = true;
    // Answers still to come (a long-poll that closing answers now, an append or a read under
    // way) say so too: a client must not send its next request on a connection about to end.
    for (const res of this.open) if (!res.headersSent) res.setHeader('Connection', 'close');
    this.open.clear();
    this.live.close();
    this.heartbeats.stop();
    this.subs?.close();
  }

  /**
   * The request listener. All of the work runs inside one async function, so a synchronous
   * throw anywhere (routing, header parsing, a store method that throws instead of
   * rejecting) becomes a rejection, and every rejection ends in `fail`. It starts once the
   * requests before it on its connection are answered.
   */
  handle(req: IncomingMessage, res: ServerResponse, next?: Next): void {
    // A client that goes away mid-body or mid-response emits these; the request's own code
    // sees the hang-up through `close`.
    req.on('error', noop);
    res.on('error', noop);
    // The request's id, and its start for the access line, from its arrival (not its turn).
    requestIdOf(req);
    this.order.serveInOrder(req, res, () => {
      void this.serve(req, res, next).then(
        (ours) => {
          this.open.delete(res);
          if (ours) this.sends.ended(res);
        },
        (err: unknown) => {
          this.fail(req, res, err);
          this.open.delete(res);
          this.sends.ended(res);
        },
      );
    });
  }

  /** Serves the request; resolves `false` when it was handed on to `next` (the host app's response, not ours). */
  private async serve(req: IncomingMessage, res: ServerResponse, next: Next | undefined): Promise<boolean> {
    let route: Route;
    try {
      route = routeOf(this.o.basePath, req);
    } catch (err) {
      this.setBaseHeaders(res);
      throw err;
    }
    // The host app's own responses carry none of ours (CORS, and a CSP sandbox that would
    // stop its pages' scripts).
    const handedOn = next !== undefined && (route.kind === 'outside' || (route.kind === 'root' && !route.insideBase));
    if (handedOn) {
      next();
      return false;
    }
    this.setBaseHeaders(res);
    await this.answer(req, res, route);
    return true;
  }

  private async answer(req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
    // Node refuses these itself (no body, no line) unless `createStreamsServer` asks it not to.
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && req.headers.host === undefined) {
      throw source.invalid('an HTTP/1.1 request needs a Host header (RFC 9112 section 3.2)');
    }
    const expectation = req.headers.expect;
    if (expectation !== undefined && !CONTINUE.test(expectation)) return sendExpectationFailed(this.o, req, res);
    const refusal = codingRefusal(req);
    if (refusal !== undefined) return sendRefusal(this.o, req, res, refusal);
    switch (route.kind) {
      case 'stream':
        if (isHealthPath(route.name)) return serveHealth(this, { req, res, name: route.name, params: route.params });
        if (isReserved(route.name)) {
          // Reserved by the protocol whether or not subscriptions are on: a stream made there
          // would vanish behind the control APIs the day they are turned on.
          if (this.subs === undefined) {
            const base = this.o.basePath;
            throw source.error(
              'NOT_FOUND',
              `${base}__ds/ is reserved for the protocol's control APIs (health: ${base}${HEALTH_LIVE}, ${base}${HEALTH_READY}); subscriptions are off`,
            );
          }
          return serveReserved(this, this.subs, { req, res, name: route.name, params: route.params });
        }
        return this.dispatch({ req, res, name: route.name, params: route.params });
      case 'server':
        if (req.method !== 'OPTIONS') throw source.invalid('the request target * is for OPTIONS only');
        res.writeHead(204, preflightHeaders(this.o)).end();
        return;
      case 'root':
        // `/` outside basePath belongs to the host app when there is one (handed on above).
        return this.landing.serve(req, res);
      case 'outside':
        throw source.error('NOT_FOUND', `no stream at ${req.url}; streams live under ${this.o.basePath}`);
    }
  }

  /** Our headers and the request id on a request this handler answers, and its access line once done. */
  private setBaseHeaders(res: ServerResponse): void {
    for (const [k, v] of this.base) res.setHeader(k, v);
    res.setHeader('X-Request-Id', requestIdOf(res.req));
    logAccess(this.o.logger, res.req, res);
    // Shutting down: the client's next request goes to a new connection (another replica).
    if (this.closing) {
      res.setHeader('Connection', 'close');
      return;
    }
    // Until `serve` settles (by then its head is sent): no 'close' listener per request.
    this.open.add(res);
  }

  private async dispatch(r: StreamRequest): Promise<void> {
    switch (r.req.method) {
      case 'OPTIONS':
        r.res.writeHead(204, preflightHeaders(this.o)).end();
        return;
      case 'GET':
        return this.get(r);
      case 'POST':
        return append(this, r);
      case 'PUT':
        return create(this, r);
      case 'HEAD':
        return head(this, r);
      case 'DELETE':
        return remove(this, r);
      default:
        sendMethodNotAllowed(this.o, r.req, r.res, METHODS, `${r.req.method} is not a method of the Durable Streams protocol`);
    }
  }

  /** GET: catch-up, `offset=now`, long-poll or SSE. */
  private get(r: StreamRequest): Promise<void> {
    const offset = offsetParam(r.params);
    const live = liveParam(r.params);
    if (live !== undefined && offset === undefined) throw source.invalid(`live=${live} needs an offset (-1, now or an offset)`);
    if (live === 'sse') return sse(this, r, offset!);
    if (live === 'long-poll') return longPoll(this, r, offset!);
    if (offset === OFFSET_NOW_SENTINEL) return readNow(this, r);
    return catchUp(this, r, offset ?? OFFSET_START_SENTINEL);
  }

  /** The end of every failed request: answered, or cut when under way; never a throw. */
  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    // Node could not parse this request's body: the server answered it and logged why.
    if (this.refused.has(req)) return;
    try {
      sendError(this.o, req, res, err);
    } catch (failure) {
      // Answering failed too (nothing known does): log it and cut the connection.
      this.o.log(logLine(req, 500, 'INTERNAL', `the error answer failed: ${failure instanceof Error ? failure.message : String(failure)}`));
      res.destroy();
    }
  }
}
