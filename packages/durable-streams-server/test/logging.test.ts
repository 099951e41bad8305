import { createSubscriptionStore, type StowageError } from '@stowage/core';
import { MemorySessionStore, MemoryStreamStore } from '@stowage/stores-memory';
import { afterEach, describe, expect, it } from 'vitest';
import { createStreamsServer, type ServerErrorContext, type StreamsLogger, type StreamsServer } from '../src/index.js';
import { eventuallyValue } from './subscription-server.js';

/** One call of the injected logger, as pino would get it. */
interface Logged {
  level: string;
  fields: Record<string, unknown>;
  msg: string | undefined;
}

/** A pino-shaped logger that keeps every call (fields copied, so later changes do not show). */
function capturing(): { logger: StreamsLogger; lines: Logged[] } {
  const lines: Logged[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, msg?: string) => void lines.push({ level, fields: { ...fields }, msg });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const completed = (lines: Logged[], reqId: string): Logged[] =>
  lines.filter((l) => l.msg === 'request completed' && l.fields['reqId'] === reqId);

let open: { server: StreamsServer; close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open) await o.close();
  open = [];
});

async function start(options: Partial<Parameters<typeof createStreamsServer>[0]> = {}) {
  const store = new MemoryStreamStore();
  const server = createStreamsServer({ store, ...options });
  const url = await server.listen(0);
  open.push({
    server,
    close: async () => {
      await server.close();
      await store.close();
    },
  });
  return { url, store, server };
}

describe('structured logs (an injected pino-compatible logger)', () => {
  it('gives each request an id, echoes a safe incoming one, and logs one access line per request', async () => {
    const { logger, lines } = capturing();
    const { url } = await start({ logger });
    const a = await fetch(`${url}/s`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
    const b = await fetch(`${url}/s`, { method: 'HEAD' });
    const ida = a.headers.get('x-request-id')!;
    const idb = b.headers.get('x-request-id')!;
    expect([ida, idb]).toEqual([expect.stringMatching(UUID), expect.stringMatching(UUID)]);
    expect(ida).not.toBe(idb);

    const given = await fetch(`${url}/s?offset=-1`, { headers: { 'X-Request-Id': 'trace-42.abc' } });
    expect(given.headers.get('x-request-id')).toBe('trace-42.abc');
    // Too long, or with characters that do not belong in a log line: replaced.
    const long = await fetch(`${url}/s?offset=-1`, { headers: { 'X-Request-Id': 'x'.repeat(65) } });
    expect(long.headers.get('x-request-id')).toMatch(UUID);
    const odd = await fetch(`${url}/s?offset=-1`, { headers: { 'X-Request-Id': 'a b"c' } });
    expect(odd.headers.get('x-request-id')).toMatch(UUID);

    await eventuallyValue(
      async () => completed(lines, odd.headers.get('x-request-id')!).length,
      (n) => n === 1,
    );
    expect(completed(lines, ida)).toEqual([
      {
        level: 'info',
        msg: 'request completed',
        fields: { reqId: ida, method: 'PUT', path: '/s', status: 201, durationMs: expect.any(Number) },
      },
    ]);
    expect(completed(lines, idb).map((l) => l.fields['status'])).toEqual([200]);
    expect(completed(lines, 'trace-42.abc').map((l) => l.fields['path'])).toEqual(['/s']);
    expect(lines.filter((l) => l.msg === 'request completed')).toHaveLength(5);
  });

  it("asks the logger's isLevelEnabled per request: with info off, no access lines; warnings still go out", async () => {
    const { logger, lines } = capturing();
    let info = false;
    const { url } = await start({ logger: { ...logger, isLevelEnabled: (level) => level !== 'info' || info } });
    expect((await fetch(`${url}/q`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } })).status).toBe(201);
    expect((await fetch(`${url}/missing?offset=-1`)).status).toBe(404);
    // Turned on at run time (as pino's `logger.level = 'info'`): the next request is logged.
    info = true;
    const on = await fetch(`${url}/q?offset=-1`);
    expect(on.status).toBe(200);
    const reqId = on.headers.get('x-request-id')!;
    await eventuallyValue(
      async () => completed(lines, reqId).length,
      (n) => n === 1,
    );
    expect(lines.filter((l) => l.msg === 'request completed')).toHaveLength(1);
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.fields['status'])).toEqual([404]);
  });

  it('logs an error response as one warn line with the request id and code, never the query', async () => {
    const { logger, lines } = capturing();
    const { url } = await start({ logger });
    const res = await fetch(`${url}/missing?offset=-1`, { headers: { 'X-Request-Id': 'req-404' } });
    expect(res.status).toBe(404);
    await eventuallyValue(
      async () => completed(lines, 'req-404').length,
      (n) => n === 1,
    );
    expect(lines.filter((l) => l.level === 'warn')).toEqual([
      {
        level: 'warn',
        msg: expect.any(String),
        fields: { reqId: 'req-404', method: 'GET', path: '/missing', status: 404, code: 'NOT_FOUND' },
      },
    ]);
  });

  it('writes no payload, query secret, Authorization or cookie into any line', async () => {
    const { logger, lines } = capturing();
    const { url } = await start({ logger });
    const secret = {
      Authorization: 'Bearer MARKER-AUTHORIZATION',
      Cookie: 'sid=MARKER-COOKIE',
      'Content-Type': 'text/plain',
    };
    expect((await fetch(`${url}/p?token=MARKER-QUERY`, { method: 'PUT', headers: secret, body: 'MARKER-PAYLOAD-1' })).status).toBe(201);
    expect((await fetch(`${url}/p?token=MARKER-QUERY`, { method: 'POST', headers: secret, body: 'MARKER-PAYLOAD-2' })).status).toBe(204);
    // Refused requests too: a body of the wrong type, a stream that does not exist.
    const json = { ...secret, 'Content-Type': 'application/json' };
    expect((await fetch(`${url}/p?token=MARKER-QUERY`, { method: 'POST', headers: json, body: '"MARKER-PAYLOAD-3"' })).status).toBe(409);
    expect((await fetch(`${url}/none?token=MARKER-QUERY`, { method: 'POST', headers: secret, body: 'MARKER-PAYLOAD-4' })).status).toBe(404);
    expect(await (await fetch(`${url}/p?offset=-1&token=MARKER-QUERY`, { headers: secret })).text()).toBe(
      'MARKER-PAYLOAD-1MARKER-PAYLOAD-2',
    );
    // Refusals that quote what they refuse: an offset, header values.
    expect((await fetch(`${url}/p?offset=MARKER-OFFSET`, { headers: secret })).status).toBe(400);
    expect((await fetch(`${url}/p`, { method: 'POST', headers: { ...secret, 'Producer-Epoch': 'MARKER-EPOCH' } })).status).toBe(400);
    expect((await fetch(`${url}/q`, { method: 'PUT', headers: { ...secret, 'Stream-TTL': 'MARKER-TTL' } })).status).toBe(400);
    await eventuallyValue(
      async () => lines.filter((l) => l.msg === 'request completed').length,
      (n) => n === 8,
    );
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(5);
    const text = JSON.stringify(lines);
    expect(text).not.toContain('MARKER');
  });
});

describe('background failures (onError)', () => {
  it('receive a failed subscription bookkeeping call, with its operation and code; the append still succeeds', async () => {
    const sessions = new MemorySessionStore();
    const errors: { error: StowageError; context: ServerErrorContext }[] = [];
    const { logger, lines } = capturing();
    const { url } = await start({
      logger,
      onError: (error, context) => errors.push({ error, context }),
      subscriptions: { store: createSubscriptionStore({ sessions }), pollIntervalMs: 600_000 },
    });
    // The subscriptions' backend goes away under the server.
    await sessions.close();
    expect((await fetch(`${url}/ev`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: 'MARKER-PAYLOAD' })).status).toBe(
      201,
    );
    await eventuallyValue(
      async () => errors.length,
      (n) => n >= 1,
    );
    expect(errors[0]!.error.code).toBe('UNAVAILABLE');
    expect(errors[0]!.context).toEqual({ operation: 'noteAppend', message: expect.stringContaining('noteAppend("ev") failed') });
    // Given to onError, not also logged; and no payload in what was.
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    expect(JSON.stringify(errors.map((e) => e.context))).not.toContain('MARKER');
  });

  it('go to the logger as one error line when there is no onError', async () => {
    const sessions = new MemorySessionStore();
    const { logger, lines } = capturing();
    const { url } = await start({ logger, subscriptions: { store: createSubscriptionStore({ sessions }), pollIntervalMs: 600_000 } });
    await sessions.close();
    expect((await fetch(`${url}/ev`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: 'x' })).status).toBe(201);
    const errors = await eventuallyValue(
      async () => lines.filter((l) => l.level === 'error'),
      (l) => l.length >= 1,
    );
    expect(errors[0]).toEqual({
      level: 'error',
      msg: expect.stringMatching(/^background noteAppend failed: subscriptions: noteAppend\("ev"\) failed: /),
      fields: { operation: 'noteAppend', code: 'UNAVAILABLE' },
    });
  });
});

describe('readiness uses the store health()', () => {
  it("answers 503 with the store's own reason, and falls back to a head for a store without health()", async () => {
    const { logger, lines } = capturing();
    const real = new MemoryStreamStore();
    // The store says its backend is down while its reads still work: only health() can tell.
    const down = Object.assign(Object.create(real) as MemoryStreamStore, {
      health: async () => ({ ok: false, latencyMs: 1, error: 'MARKER-REASON' }),
    });
    const { url } = await start({ logger, store: down });
    const ready = await fetch(`${url}/__ds/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable', store: { ok: false, latencyMs: 1 } });
    expect(lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(['the store does not answer: MARKER-REASON']);

    // A third-party store without health(): a head of a reserved name, which answers.
    const bare = Object.assign(Object.create(real) as MemoryStreamStore, { health: undefined });
    const other = await start({ store: bare, log: false });
    expect((await fetch(`${other.url}/__ds/health/ready`)).status).toBe(200);
    await real.close();
  });
});
