import { createServer } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSubscriptionStore } from '@stowage/core';
import { MemorySessionStore, MemoryStreamStore } from '@stowage/stores-memory';
import { RedisStreamStore } from '@stowage/stores-redis';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createStreamsHandler, createStreamsServer, openStore, type StreamsServer } from '../src/index.js';

/**
 * Sends raw bytes on a fresh connection (several strings: one write each, `gapMs` apart) and
 * returns everything the server answers.
 */
function raw(url: string, bytes: string | string[], gapMs = 150): Promise<string> {
  const { hostname, port } = new URL(url);
  const parts = typeof bytes === 'string' ? [bytes] : bytes;
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0) await sleep(gapMs);
        if (!socket.destroyed) socket.write(part);
      }
    });
    let out = '';
    socket.on('data', (c) => (out += c.toString('latin1')));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
    socket.setTimeout(3000, () => socket.destroy(new Error(`no answer; got ${JSON.stringify(out)}`)));
  });
}

describe('bad input never crashes the server; each error is one log line', () => {
  const store = new MemoryStreamStore();
  const lines: string[] = [];
  let server: StreamsServer;
  let base = '';
  beforeAll(async () => {
    server = createStreamsServer({ store, maxBodyBytes: 1024, longPollTimeoutMs: 500, log: (l) => lines.push(l) });
    base = await server.listen(0);
  });
  afterAll(async () => {
    await server.close();
    await store.close();
  });
  afterEach(() => {
    lines.length = 0;
  });

  const put = (path: string, headers: Record<string, string> = { 'Content-Type': 'text/plain' }, body?: string) =>
    fetch(`${base}${path}`, { method: 'PUT', headers, ...(body === undefined ? {} : { body }) });
  const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = { 'Content-Type': 'text/plain' }) =>
    fetch(`${base}${path}`, { method: 'POST', headers, body });
  const tailOf = async (path: string) => (await fetch(`${base}${path}`, { method: 'HEAD' })).headers.get('stream-next-offset');

  it('answers malformed HTTP with 400 on that connection and keeps serving', async () => {
    // Answered like every other refusal: a JSON body that names the problem, not an empty one.
    const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
    const answer = await raw(base, 'GET /x HTTP/1.1\r\nHost: a\r\nThis is not a header\r\n\r\n');
    expect(answer.startsWith('HTTP/1.1 400')).toBe(true);
    expect(answer).toMatch(/\r\nContent-Type: application\/json; charset=utf-8\r\n/);
    expect(bodyOf(answer)).toEqual({ error: { code: 'BAD_REQUEST', message: 'malformed HTTP request: Invalid header token' } });
    const huge = await raw(base, `GET /x HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(huge.startsWith('HTTP/1.1 431')).toBe(true);
    expect(bodyOf(huge)).toEqual({ error: { code: 'HEADERS_TOO_LARGE', message: expect.stringContaining('over 16384 bytes') } });
    // An answer to HEAD has no body.
    const headHuge = await raw(base, `HEAD /x HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(headHuge.startsWith('HTTP/1.1 431')).toBe(true);
    expect(headHuge.endsWith('\r\nContent-Length: 0\r\n\r\n')).toBe(true);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/ 400 - - HPE_/);
    expect((await put('/still-alive')).status).toBe(201);
  });

  it('never answers a HEAD with a body, nor a request twice, when the bytes in error come in a later read', async () => {
    // The failing read begins like a request line, but the request in error is the HEAD.
    const split = await raw(base, ['HEAD /x HTTP/1.1\r\nHost: a\r\n', 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n']);
    expect(split).toBe('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nCache-Control: no-store\r\nContent-Length: 0\r\n\r\n');
    await put('/answered');
    // A HEAD answered at once, its chunked body then malformed: one answer, then the connection closes.
    const head = 'HEAD /answered HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n';
    const twice = await raw(base, [head, 'ZZ\r\n']);
    expect(twice.match(/HTTP\/1\.1 /g)).toEqual(['HTTP/1.1 ']);
    expect(twice.startsWith('HTTP/1.1 200 ')).toBe(true);
    expect(lines.filter((l) => / 400 - - HPE_/.test(l))).toHaveLength(2);
  });

  it('answers a body over the limit with 413 (declared or chunked) and appends nothing', async () => {
    await put('/limit');
    const before = await tailOf('/limit');
    const declared = await post('/limit', new Uint8Array(4096));
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual({ error: { code: 'PAYLOAD_TOO_LARGE', message: expect.stringContaining('1024 bytes') } });
    // A streamed body has no Content-Length: it is cut off while it is read.
    const chunked = await fetch(`${base}/limit`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 8; i++) c.enqueue(new Uint8Array(512));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(await tailOf('/limit')).toBe(before);
    expect((await post('/limit', 'fits')).status).toBe(204);
    expect(lines.filter((l) => l.includes(' 413 '))).toHaveLength(2);
  });

  it('rejects bad offsets, bad query and bad headers with 400 and changes nothing', async () => {
    await put('/bad', { 'Content-Type': 'text/plain' }, 'abc');
    const tail = await tailOf('/bad');
    const statuses = await Promise.all([
      fetch(`${base}/bad?offset=abc`),
      fetch(`${base}/bad?offset=1,2`),
      fetch(`${base}/bad?offset=`),
      fetch(`${base}/bad?offset=-1&offset=-1`),
      fetch(`${base}/bad?offset=0000000000000000_0000000000000099`), // past the tail
      fetch(`${base}/bad?offset=-1&live=forever`),
      fetch(`${base}/bad?live=sse`),
      post('/bad', 'x', { 'Content-Type': 'text/plain', 'Producer-Id': 'p', 'Producer-Epoch': '0' }),
      post('/bad', 'x', { 'Content-Type': 'text/plain', 'Producer-Id': 'p', 'Producer-Epoch': '01', 'Producer-Seq': '0' }),
      post('/bad', 'x', { 'Content-Type': 'text/plain', 'Stream-Closed': 'maybe' }),
      post('/bad', ''),
      post('/bad', new Uint8Array([120]), {}), // no Content-Type
      put('/bad2', { 'Content-Type': 'text/plain', 'Stream-TTL': '1.5' }),
      put('/bad2', { 'Content-Type': 'text/plain', 'Stream-Expires-At': 'tomorrow' }),
      put('/bad2', { 'Content-Type': 'application/json' }, '{"unclosed": '),
      put('/bad2', { 'Content-Type': 'text/plain', 'Stream-Fork-Offset': '-1' }),
      fetch(`${base}/%E0%A4%A`),
    ]).then((rs) => rs.map((r) => r.status));
    expect(statuses).toEqual(Array(statuses.length).fill(400));
    expect(await tailOf('/bad')).toBe(tail);
    expect((await fetch(`${base}/bad2`, { method: 'HEAD' })).status).toBe(404);
    expect(lines).toHaveLength(statuses.length + 1); // and the 404 of that HEAD
    expect(lines.at(-1)).toMatch(/ 404 HEAD \/bad2 NOT_FOUND: /);
    for (const line of lines.slice(0, -1))
      expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z stowage-streams 400 (GET|POST|PUT) \S+ INVALID_ARGUMENT: \S/);
  });

  it('answers unknown streams with 404 on every method, and unknown methods with 405', async () => {
    const statuses = await Promise.all(
      ['GET', 'HEAD', 'POST', 'DELETE'].map((method) =>
        fetch(`${base}/nope`, { method, ...(method === 'POST' ? { body: 'x', headers: { 'Content-Type': 'text/plain' } } : {}) }),
      ),
    ).then((rs) => rs.map((r) => r.status));
    expect(statuses).toEqual([404, 404, 404, 404]);
    expect((await fetch(`${base}/nope?offset=-1&live=long-poll`)).status).toBe(404);
    expect((await fetch(`${base}/nope`, { method: 'PATCH' })).status).toBe(405);
    expect(lines).toHaveLength(6);
  });

  it('survives clients that disconnect mid-body and mid-long-poll', async () => {
    await put('/gone');
    // A body announced as 100 bytes, 10 sent, then the connection closes.
    const { hostname, port } = new URL(base);
    await new Promise<void>((resolve) => {
      const s = connect(Number(port), hostname, () => {
        s.write('POST /gone HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789');
        setTimeout(() => s.destroy(), 50);
      });
      s.on('close', () => resolve());
    });
    const tail = await tailOf('/gone');
    const ac = new AbortController();
    const poll = fetch(`${base}/gone?offset=${tail}&live=long-poll`, { signal: ac.signal }).catch((e: Error) => e.name);
    await sleep(50);
    ac.abort();
    expect(await poll).toBe('AbortError');
    await sleep(50);
    expect((await post('/gone', 'after')).status).toBe(204);
    expect(await (await fetch(`${base}/gone`)).text()).toBe('after');
  });

  it('answers 503 UNAVAILABLE with Retry-After when the store cannot reach its backend', async () => {
    const client = new Redis({ port: 1, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    const down = new RedisStreamStore({ client, timeoutMs: 300 });
    const other = createStreamsServer({ store: down, log: (l) => lines.push(l) });
    const url = await other.listen(0);
    try {
      const r = await fetch(`${url}/s`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      expect((await r.json()).error.code).toBe('UNAVAILABLE');
      expect(lines.at(-1)).toMatch(/ 503 PUT \/s UNAVAILABLE: /);
    } finally {
      await other.close();
      await down.close();
      client.disconnect();
    }
  });
});

describe('lifecycle and mounting', () => {
  it('close() answers pending long-polls and ends SSE responses at once', async () => {
    const store = new MemoryStreamStore();
    const server = createStreamsServer({ store, longPollTimeoutMs: 60_000, log: false });
    const base = await server.listen(0);
    const created = await fetch(`${base}/s`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
    const tail = created.headers.get('stream-next-offset')!;
    const poll = fetch(`${base}/s?offset=${tail}&live=long-poll`);
    const sse = await fetch(`${base}/s?offset=-1&live=sse`);
    const sseText = sse.text();
    await sleep(50);
    const t0 = Date.now();
    await server.close();
    expect((await poll).status).toBe(204);
    expect(await sseText).toContain('event: control');
    expect(Date.now() - t0).toBeLessThan(2000);
    await store.close();
  });

  it('serves only under basePath and hands other requests to next()', async () => {
    const store = new MemoryStreamStore();
    const handler = createStreamsHandler({ store, basePath: '/streams', log: false });
    const server = createServer((req, res) =>
      handler(req, res, () => {
        res.writeHead(418).end('not a stream');
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    const base = `http://127.0.0.1:${port}`;
    try {
      expect((await fetch(`${base}/streams/a/b`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } })).status).toBe(201);
      expect((await fetch(`${base}/other`)).status).toBe(418);
      // A fork names its source by path, under the same base path.
      const fork = await fetch(`${base}/streams/f`, { method: 'PUT', headers: { 'Stream-Forked-From': '/streams/a/b' } });
      expect(fork.status).toBe(201);
      const outside = await fetch(`${base}/streams/g`, { method: 'PUT', headers: { 'Stream-Forked-From': '/other/a/b' } });
      expect(outside.status).toBe(400);
    } finally {
      handler.close();
      await new Promise((r) => server.close(r));
      await store.close();
    }
  });

  it('validates its options with StowageError', async () => {
    const store = new MemoryStreamStore();
    expect(() => createStreamsServer({ store: {} as never })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => createStreamsServer({ store, basePath: 'x' })).toThrow(/basePath/);
    expect(() => createStreamsServer({ store, longPollTimeoutMs: 0 })).toThrow(/longPollTimeoutMs/);
    expect(() => createStreamsServer({ store, corsOrigin: 'a b' })).toThrow(/corsOrigin/);
    expect(() => createStreamsServer({ store, telemetry: 'no' as never })).toThrow(/options\.telemetry must be a boolean/);
    // A misspelt option is refused, not run on the default; the same inside `subscriptions`.
    const misspelt = { store, longPolTimeoutMs: 5 } as never;
    expect(() => createStreamsServer(misspelt)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'options.longPolTimeoutMs' } }),
    );
    expect(() => createStreamsServer(misspelt)).toThrow(
      /options\.longPolTimeoutMs is not an option \(the options are basePath, .*longPollTimeoutMs/,
    );
    const subscriptions = { store: createSubscriptionStore({ sessions: new MemorySessionStore() }), webhook: true } as never;
    expect(() => createStreamsServer({ store, subscriptions })).toThrow(/options\.subscriptions\.webhook is not an option/);
    // openStore takes every backend's options (the CLI passes them all), and nothing else.
    await expect(openStore('memory', { sesions: true } as never)).rejects.toThrow(
      /options\.sesions is not an option \(the options are keyPrefix, onError, readCacheBytes, schema, sessions, tablePrefix\)/,
    );
    const opened = await openStore('memory', { sessions: true, schema: 'only_for_postgres' });
    await opened.close();
    void store.close();
  });
});
