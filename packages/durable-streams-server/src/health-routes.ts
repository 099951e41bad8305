import type { OutgoingHttpHeaders } from 'node:http';
import type { HandlerContext, StreamRequest } from './request.js';
import { logLine, preflightHeaders, sendMethodNotAllowed } from './responses.js';

/**
 * The health paths, under the protocol's reserved `{basePath}__ds/` (no stream is named
 * there): always served, with or without subscriptions.
 */
export const HEALTH_LIVE = '__ds/health/live';
export const HEALTH_READY = '__ds/health/ready';

export const isHealthPath = (name: string): boolean => name === HEALTH_LIVE || name === HEALTH_READY;

const ALLOW = 'GET, HEAD, OPTIONS';

/** What the health answers need of the handler: whether it is shutting down. */
export interface HealthContext extends HandlerContext {
  readonly closing: boolean;
}

/**
 * `live`: 200 while the process serves requests (a restart is the cure when it does not).
 * `ready`: 200 when the store answered a probe now, 503 when it did not or the server is
 * shutting down (take this replica out of the load balancer; restarting it would not help).
 * The probe's error goes to the log, not to the client: it may name hosts and ports.
 */
export async function serveHealth(c: HealthContext, r: StreamRequest): Promise<void> {
  const method = r.req.method;
  if (method === 'OPTIONS') {
    r.res.writeHead(204, preflightHeaders(c.o, ALLOW)).end();
    return;
  }
  if (method !== 'GET' && method !== 'HEAD') {
    sendMethodNotAllowed(c.o, r.req, r.res, ALLOW, `${method} is not a method of the health endpoints`);
    return;
  }
  if (r.name === HEALTH_LIVE) return send(r, 200, { status: 'live' });
  if (c.closing) return send(r, 503, { status: 'shutting-down' });
  const probe = await c.o.health();
  const latencyMs = Math.round(probe.latencyMs * 10) / 10;
  if (probe.ok) return send(r, 200, { status: 'ready', store: { ok: true, latencyMs } });
  c.o.log(logLine(r.req, 503, 'UNAVAILABLE', `the store does not answer: ${probe.error ?? 'no reason given'}`));
  return send(r, 503, { status: 'unavailable', store: { ok: false, latencyMs } });
}

function send(r: StreamRequest, status: number, body: object): void {
  const text = JSON.stringify(body);
  const headers: OutgoingHttpHeaders = {
    'Cache-Control': 'no-store',
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  };
  if (status === 503) headers['Retry-After'] = '1';
  r.res.writeHead(status, headers).end(r.req.method === 'HEAD' ? undefined : text);
}
