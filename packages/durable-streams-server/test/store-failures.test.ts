import { MemoryStreamStore } from '@stowage/stores-memory';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';
import { eventually, InstrumentedStore } from './instrumented-store.js';

/** Collects what reaches process-level handlers while a test runs: there must be nothing. */
function watchUnhandled(): unknown[] {
  const seen: unknown[] = [];
  const onError = (err: unknown): void => void seen.push(err);
  beforeAll(() => {
    process.on('unhandledRejection', onError);
    process.on('uncaughtException', onError);
  });
  afterAll(() => {
    process.off('unhandledRejection', onError);
    process.off('uncaughtException', onError);
  });
  return seen;
}

describe('a store that throws instead of rejecting', () => {
  const inner = new MemoryStreamStore();
  const store = new InstrumentedStore(inner);
  const lines: string[] = [];
  const unhandled = watchUnhandled();
  let server: StreamsServer;
  let base = '';
  beforeAll(async () => {
    server = createStreamsServer({ store, sseHeartbeatMs: 20, log: (l) => lines.push(l) });
    base = await server.listen(0);
  });
  afterAll(async () => {
    await server.close();
    await inner.close();
  });
  afterEach(() => {
    store.throwing = undefined;
    lines.length = 0;
  });

  it('answers every method 500 with a JSON body and one line each, for any thrown value', async () => {
    expect((await fetch(`${base}/s`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } })).status).toBe(201);
    const requests: Array<[string, RequestInit]> = [
      ['/s', { method: 'GET' }],
      ['/s?offset=now', { method: 'GET' }],
      ['/s?offset=-1&live=long-poll', { method: 'GET' }],
      ['/s?offset=-1&live=sse', { method: 'GET' }],
      ['/s', { method: 'HEAD' }],
      ['/s', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'x' }],
      ['/s', { method: 'POST', headers: { 'Stream-Closed': 'true' } }],
      ['/t', { method: 'PUT', headers: { 'Content-Type': 'text/plain' } }],
      ['/s', { method: 'DELETE' }],
    ];
    for (const thrown of [new TypeError('store bug'), 'a string', null]) {
      store.throwing = thrown;
      for (const [path, init] of requests) {
        const r = await fetch(`${base}${path}`, init);
        expect(r.status, `${init.method} ${path}`).toBe(500);
        if (init.method !== 'HEAD')
          expect(((await r.json()) as { error: unknown }).error).toEqual({ code: 'INTERNAL', message: 'internal error' });
      }
      store.throwing = undefined;
    }
    expect(lines).toHaveLength(3 * requests.length);
    for (const line of lines) expect(line).toMatch(/ stowage-streams 500 (GET|HEAD|POST|PUT|DELETE) \/\S+ INTERNAL: /);
    // The page at / needs no store; the stream is intact once the store works again.
    expect((await fetch(`${base}/`)).status).toBe(200);
    expect((await fetch(`${base}/s`, { method: 'HEAD' })).status).toBe(200);
    expect(unhandled).toEqual([]);
  });

  it('cuts an SSE response under way when the store fails, logs one line, and serves on', async () => {
    const sse = await fetch(`${base}/s?offset=-1&live=sse`);
    expect(sse.status).toBe(200);
    const body = sse.text().then(
      () => 'ended',
      () => 'cut',
    );
    expect(await eventually(() => store.waitsInFlight === 1)).toBe(true);
    // Its wait rejects, as a look at a failed backend does: the response is destroyed, not left hanging.
    store.failWaits(new Error('the backend went away'));
    expect(await body).toBe('cut');
    expect(lines).toHaveLength(1);
    // The path without its query: a query may carry what does not belong in a log.
    // With the status the client got (200), not the error's: its response was under way.
    expect(lines[0]).toMatch(/ 200 GET \/s INTERNAL: the response was cut after it began: the backend went away$/);
    expect((await fetch(`${base}/s`)).status).toBe(200);
    expect(unhandled).toEqual([]);
  });
});

describe('a log function that throws', () => {
  const unhandled = watchUnhandled();

  it('still answers, and the line goes to stderr with why', async () => {
    const store = new MemoryStreamStore();
    const server = createStreamsServer({
      store,
      log: () => {
        throw new Error('log sink down');
      },
    });
    const base = await server.listen(0);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect((await fetch(`${base}/missing`)).status).toBe(404);
      expect((await fetch(`${base}/`, { method: 'POST' })).status).toBe(405);
      await new Promise((r) => setTimeout(r, 20));
      const written = stderr.mock.calls.map((c) => String(c[0]));
      expect(written.filter((w) => w.includes('[options.log threw: log sink down]'))).toHaveLength(2);
      expect(unhandled).toEqual([]);
    } finally {
      stderr.mockRestore();
      await server.close();
      await store.close();
    }
  });
});
