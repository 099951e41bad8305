import { MemoryStreamStore } from '@stowage/stores-memory';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createStreamsServer, type StreamsLogger, type StreamsServer } from '../src/index.js';
import type { OpenedTestStore } from './helpers.js';
import { eventually } from './instrumented-store.js';
import { rawExchange } from './raw-http.js';
import { openMemoryStore, openSqliteFileStore } from './stores.js';

// A client that sends part of a request and stalls: Node would hold its connection (and the
// request, in the handler) for its own 300 s `requestTimeout` (60 s for a head). With
// `requestTimeoutMs` and `headersTimeoutMs` it gets 408 once they pass, its connection is
// closed and nothing it sent is stored. (Without an answer by `timeoutMs` below, the
// exchange fails: Node's own limits are far longer.)
describe.each([
  ['MemoryStreamStore', openMemoryStore],
  ['SqliteStreamStore (a WAL file)', openSqliteFileStore],
])('requestTimeoutMs and headersTimeoutMs on %s', (_label, open) => {
  const lines: string[] = [];
  /** The access lines of POSTs (the test's own HEADs and GETs left out). */
  const posts: Record<string, unknown>[] = [];
  const info = (fields: Record<string, unknown>, msg?: string): void => {
    if (msg === 'request completed' && fields['method'] === 'POST') posts.push({ ...fields, durationMs: 0 });
  };
  const logger: StreamsLogger = { debug: () => {}, info, warn: () => {}, error: () => {} };
  let opened: OpenedTestStore;
  let server: StreamsServer;
  let base = '';
  beforeAll(async () => {
    opened = await open();
    server = createStreamsServer({
      store: opened.store,
      requestTimeoutMs: 1000,
      headersTimeoutMs: 500,
      longPollTimeoutMs: 2500,
      log: (l) => lines.push(l),
      logger,
    });
    base = await server.listen(0);
    expect((await fetch(`${base}/s`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: 'start' })).status).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await server.close();
    await opened.close();
  });
  beforeEach(() => {
    lines.length = 0;
    posts.length = 0;
  });
  const tailOf = async () => (await fetch(`${base}/s`, { method: 'HEAD' })).headers.get('stream-next-offset');

  it('a body that stalls: 408, the connection closed, one log line, nothing appended', async () => {
    const tail = await tailOf();
    const head = 'POST /s HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n';
    // The client never closes: the exchange ends only when the server closes the connection.
    const { responses } = await rawExchange(base, `${head}0123456789`, 'POST', { timeoutMs: 10_000 });
    expect(responses.map((r) => r.status)).toEqual([408]);
    expect(responses[0]!.headers.get('connection')).toEqual(['close']);
    expect(JSON.parse(responses[0]!.body.toString()).error.code).toBe('REQUEST_TIMEOUT');
    expect(await tailOf()).toBe(tail);
    expect(await (await fetch(`${base}/s?offset=-1`)).text()).toBe('start');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ 408 - - ERR_HTTP_REQUEST_TIMEOUT: /);
    // Its access line says the 408 it got; it was not a response cut (no status, `aborted`).
    expect(await eventually(() => posts.length > 0)).toBe(true);
    expect(posts).toEqual([{ reqId: expect.any(String), method: 'POST', path: '/s', status: 408, durationMs: 0 }]);
  }, 30_000);

  it('a head that stalls: 408 after headersTimeoutMs, the connection closed, one log line', async () => {
    const tail = await tailOf();
    const { responses } = await rawExchange(base, 'POST /s HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n', 'POST', {
      timeoutMs: 10_000,
    });
    expect(responses.map((r) => r.status)).toEqual([408]);
    expect(await tailOf()).toBe(tail);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ 408 - - ERR_HTTP_REQUEST_TIMEOUT: /);
    // It never reached the handler: its one line is the one above.
    expect(posts).toEqual([]);
  }, 30_000);

  it('a live read outlasts requestTimeoutMs: its request ended with its head', async () => {
    const tail = await tailOf();
    const request = `GET /s?offset=${tail}&live=long-poll HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`;
    const { responses } = await rawExchange(base, request, 'GET', { timeoutMs: 10_000 });
    // Answered by its own time (2.5 s, past the 1 s limit): 204 at the tail.
    expect(responses.map((r) => r.status)).toEqual([204]);
    expect(responses[0]!.headers.get('stream-next-offset')).toEqual([tail]);
    expect(lines).toEqual([]);
  }, 30_000);
});

describe('request time limits: options', () => {
  const memory = new MemoryStreamStore();
  const store = () => memory;
  afterAll(() => memory.close());

  it('a head limit above the request limit is refused; the default head limit is capped at it', () => {
    expect(() => createStreamsServer({ store: store(), requestTimeoutMs: 1000, headersTimeoutMs: 2000 })).toThrow(
      /headersTimeoutMs must be at most options\.requestTimeoutMs/,
    );
    const server = createStreamsServer({ store: store(), requestTimeoutMs: 1000, log: false });
    expect(server.server.requestTimeout).toBe(1000);
    expect(server.server.headersTimeout).toBe(1000);
    const defaults = createStreamsServer({ store: store(), log: false });
    expect(defaults.server.requestTimeout).toBe(120_000);
    expect(defaults.server.headersTimeout).toBe(20_000);
  });
});
