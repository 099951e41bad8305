import type { IncomingMessage, ServerResponse } from 'node:http';
import { StowageError } from '@stowage/core';
import { readBody } from './body.js';
import { requestPath } from './origin.js';
import type { HandlerContext, StreamRequest } from './request.js';
import { logLine, preflightHeaders, publicMessage, sendMethodNotAllowed } from './responses.js';
import type { SubscriptionRuntime } from './subscription-runtime.js';
import {
  bearerToken,
  isRefused,
  jsonObject,
  linkWire,
  parseDefinition,
  parseStreams,
  parseWakeCall,
  parseWorker,
  refusalError,
  SubscriptionError,
  subscriptionWire,
} from './subscription-wire.js';
import { checkWebhookUrl } from './webhook-address.js';

/** The first segment of the reserved control paths under `basePath`. */
export const RESERVED = '__ds';

/** Whether a stream name falls under the protocol's reserved control paths (never a stream). */
export const isReserved = (name: string): boolean => name === RESERVED || name.startsWith(`${RESERVED}/`);

/** Largest body of a control request: a create naming 1000 long stream paths fits. */
const MAX_CONTROL_BODY_BYTES = 1024 * 1024;

const WAKE_ACTIONS = new Set(['callback', 'claim', 'ack', 'release']);

/** One control request: its route and what it needs. */
interface Control {
  c: HandlerContext;
  rt: SubscriptionRuntime;
  req: IncomingMessage;
  res: ServerResponse;
}

/**
 * Serves `{basePath}__ds/...`: the Durable Streams reserved subscription APIs and the JWKS of
 * the webhook signing keys. Errors are answered `{"error": {"code", "message"}}` with the
 * protocol's codes; the store's argument errors are `INVALID_REQUEST`; anything else
 * (store unavailable, a body over the limit) goes to the handler's usual error answer.
 */
export async function serveReserved(c: HandlerContext, rt: SubscriptionRuntime, r: StreamRequest): Promise<void> {
  const x: Control = { c, rt, req: r.req, res: r.res };
  try {
    await route(x, segmentsAfterBase(c.o.basePath, r));
  } catch (err) {
    if (err instanceof SubscriptionError) return sendControlError(x, err);
    if (StowageError.is(err, 'INVALID_ARGUMENT')) return sendControlError(x, new SubscriptionError('INVALID_REQUEST', err.message));
    throw err;
  }
}

async function route(x: Control, segs: string[]): Promise<void> {
  const [root, first, id, action, ...rest] = segs;
  if (root !== RESERVED) throw notFound(x);
  if (segs.length === 2 && first === 'jwks.json') {
    if (!allow(x, 'GET, HEAD, OPTIONS')) return;
    const jwks = await x.rt.keys.jwks();
    return sendJson(x, 200, jwks, { 'Content-Type': 'application/jwk-set+json', 'Cache-Control': 'public, max-age=60' });
  }
  if (first !== 'subscriptions' || id === undefined || id.length === 0) throw notFound(x);
  // A URL cannot name them: `callback_url` would resolve `.` and `..` as dot segments.
  if (id === '.' || id === '..') throw new SubscriptionError('INVALID_REQUEST', 'a subscription id cannot be . or ..');
  if (action === undefined) {
    if (!allow(x, 'GET, HEAD, PUT, DELETE, OPTIONS')) return;
    if (x.req.method === 'PUT') return put(x, id);
    if (x.req.method === 'DELETE') {
      await x.rt.options.store.delete(id);
      x.res.writeHead(204, { 'Cache-Control': 'no-store' }).end();
      return;
    }
    return get(x, id);
  }
  if (action === 'streams') {
    if (rest.length === 0) {
      if (!allow(x, 'POST, OPTIONS')) return;
      const streams = parseStreams(jsonObject(await body(x)));
      if (!(await x.rt.options.store.addStreams(id, streams))) throw missing();
      x.res.writeHead(204, { 'Cache-Control': 'no-store' }).end();
      return;
    }
    if (!allow(x, 'DELETE, OPTIONS')) return;
    if (!(await x.rt.options.store.removeStream(id, rest.join('/')))) throw missing();
    x.res.writeHead(204, { 'Cache-Control': 'no-store' }).end();
    return;
  }
  if (rest.length > 0 || !WAKE_ACTIONS.has(action)) throw notFound(x);
  if (!allow(x, 'POST, OPTIONS')) return;
  const payload = jsonObject(await body(x));
  if (action === 'claim') return claim(x, id, parseWorker(payload));
  const token = bearerToken(x.req.headers.authorization);
  const call = parseWakeCall(payload);
  const store = x.rt.options.store;
  const proof = { wakeId: call.wakeId, generation: call.generation, token };
  const result = action === 'release' ? await store.release(id, proof) : await store.ack(id, proof, call.acks, call.done);
  if (isRefused(result)) throw refusalError(result);
  if (result.next !== undefined) x.rt.announce([result.next]);
  if (action === 'release') {
    x.res.writeHead(204, { 'Cache-Control': 'no-store' }).end();
    return;
  }
  sendJson(x, 200, { ok: true, next_wake: result.next !== undefined });
}

async function put(x: Control, id: string): Promise<void> {
  const definition = parseDefinition(jsonObject(await body(x)));
  const s = x.rt.options;
  if (definition.type === 'webhook') {
    if (!s.webhooks) throw new SubscriptionError('INVALID_REQUEST', 'webhook subscriptions are not enabled');
    const checked = checkWebhookUrl(definition.webhookUrl!, s.allowWebhookHosts);
    if ('refused' in checked) throw new SubscriptionError('WEBHOOK_URL_REJECTED', checked.refused);
  }
  const result = await s.store.put(id, definition);
  if (result.status === 'conflict') {
    throw new SubscriptionError('SUBSCRIPTION_ALREADY_EXISTS', `subscription ${id} exists with another definition`);
  }
  const kid = definition.type === 'webhook' ? await x.rt.keys.currentKid() : undefined;
  sendJson(x, result.status === 'created' ? 201 : 200, subscriptionWire(result.subscription, x.rt.urls(x.rt.originFor(x.req)), kid));
}

async function get(x: Control, id: string): Promise<void> {
  const found = await x.rt.options.store.get(id);
  if (found === undefined) throw missing();
  const kid = found.type === 'webhook' ? await x.rt.keys.currentKid() : undefined;
  sendJson(x, 200, subscriptionWire(found, x.rt.urls(x.rt.originFor(x.req)), kid));
}

async function claim(x: Control, id: string, worker: string): Promise<void> {
  const result = await x.rt.options.store.claim(id, worker);
  if (isRefused(result)) throw refusalError(result);
  sendJson(x, 200, {
    wake_id: result.wake.id,
    generation: result.wake.generation,
    token: result.token,
    streams: result.links.map(linkWire),
    lease_ttl_ms: result.leaseTtlMs,
  });
}

const missing = (): SubscriptionError => new SubscriptionError('SUBSCRIPTION_NOT_FOUND', 'subscription not found');

const notFound = (x: Control): SubscriptionError =>
  new SubscriptionError('SUBSCRIPTION_NOT_FOUND', `no Durable Streams control route at ${requestPath(x.req).slice(0, 256)}`);

function body(x: Control): Promise<Buffer> {
  return readBody(x.req, Math.min(x.c.o.maxBodyBytes, MAX_CONTROL_BODY_BYTES));
}

/** OPTIONS is answered here (false); a method not in `methods` gets 405 (false); else true. */
function allow(x: Control, methods: string): boolean {
  const method = x.req.method ?? '';
  if (method === 'OPTIONS') {
    x.res.writeHead(204, preflightHeaders(x.c.o, methods)).end();
    return false;
  }
  if (!methods.split(', ').includes(method)) {
    sendMethodNotAllowed(x.c.o, x.req, x.res, methods, `${method} is not a method of this control route`);
    return false;
  }
  return true;
}

function sendJson(x: Control, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = Buffer.from(JSON.stringify(value), 'utf8');
  x.res
    .writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-store',
      ...headers,
      'Content-Length': text.length,
    })
    .end(x.req.method === 'HEAD' ? undefined : text);
}

function sendControlError(x: Control, err: SubscriptionError): void {
  x.c.o.log(logLine(x.req, err.status, err.code, err.message));
  sendJson(x, err.status, { error: { code: err.code, message: publicMessage(err.message), ...err.extra } });
}

/**
 * The path's segments after `basePath`, each decoded on its own (from the raw target): an
 * encoded `/` inside a segment (`manual%2Fb`, a subscription id) stays inside it.
 */
function segmentsAfterBase(basePath: string, r: StreamRequest): string[] {
  const raw = requestPath(r.req).split('/');
  let prefix = '/';
  for (let i = 1; i < raw.length && prefix.length <= basePath.length; i++) {
    if (prefix === basePath) return raw.slice(i).map(decodeURIComponent);
    prefix += `${decodeURIComponent(raw[i]!)}/`;
  }
  // The base path itself was sent with an encoded `/`: split the decoded name instead.
  return r.name.split('/');
}
