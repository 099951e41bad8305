import { connect } from 'node:net';
import { MemoryStreamStore } from '@stowage/stores-memory';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';
import { parseResponses, rawExchange } from './raw-http.js';

const LIMIT = 1024;

/**
 * Sends a request head, then `total` body bytes in 16 KiB pieces (chunked or not). With
 * `readWhileSending`, stops sending once any answer arrives (as curl and browsers do); without,
 * writes everything before it looks. Resolves once the server has closed the connection, with
 * what came back and whether the connection failed (a reset) instead of closing.
 */
function sendLarge(
  base: string,
  head: string,
  total: number,
  chunked: boolean,
  readWhileSending: boolean,
): Promise<{ bytes: Buffer; failure: string | undefined }> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(base).port), '127.0.0.1');
    const chunks: Buffer[] = [];
    let failure: string | undefined;
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (e: NodeJS.ErrnoException) => (failure = e.code));
    socket.on('close', () => resolve({ bytes: Buffer.concat(chunks), failure }));
    const piece = Buffer.alloc(16 * 1024, 120);
    const framed = chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece;
    socket.on('connect', async () => {
      socket.write(head);
      for (let sent = 0; sent < total && !socket.destroyed; sent += piece.length) {
        if (readWhileSending && chunks.length > 0) return;
        if (!socket.write(framed)) await new Promise((r) => (socket.once('drain', r), socket.once('close', r)));
      }
      if (!socket.destroyed) socket.end(chunked ? '0\r\n\r\n' : '');
    });
  });
}

describe('request bodies the server refuses: answered, nothing stored, one log line each', () => {
  const store = new MemoryStreamStore();
  const lines: string[] = [];
  /** Access lines ('request completed'), by their fields. */
  const access: Record<string, unknown>[] = [];
  let server: StreamsServer;
  let base = '';
  beforeAll(async () => {
    const ignore = () => {};
    const logger = { debug: ignore, warn: ignore, error: ignore, info: (fields: Record<string, unknown>) => void access.push(fields) };
    server = createStreamsServer({ store, maxBodyBytes: LIMIT, log: (l) => lines.push(l), logger });
    base = await server.listen(0);
  });
  afterAll(async () => {
    await server.close();
    await store.close();
  });
  afterEach(() => {
    lines.length = 0;
    access.length = 0;
  });
  const json = { 'Content-Type': 'application/json' };
  const tailOf = async (path: string) => (await fetch(`${base}${path}`, { method: 'HEAD' })).headers.get('stream-next-offset');

  it('JSON that is not UTF-8 (or starts with a byte order mark): 400 to PUT and POST, nothing stored', async () => {
    const invalid = [Buffer.from('["\xff\xfe", 1]', 'latin1'), Buffer.from([0x5b, 0x22, 0xc3, 0x22, 0x5d]), Buffer.from('\ufeff[1]')];
    expect((await fetch(`${base}/utf8`, { method: 'PUT', headers: json, body: '["é"]' })).status).toBe(201);
    const tail = await tailOf('/utf8');
    for (const body of invalid) {
      const appended = await fetch(`${base}/utf8`, { method: 'POST', headers: json, body });
      expect(appended.status).toBe(400);
      expect(((await appended.json()) as { error: { code: string } }).error.code).toBe('INVALID_ARGUMENT');
      const created = await fetch(`${base}/utf8-new`, { method: 'PUT', headers: json, body });
      expect(created.status).toBe(400);
    }
    expect(await tailOf('/utf8')).toBe(tail);
    expect(await (await fetch(`${base}/utf8?offset=-1`)).json()).toEqual(['é']);
    expect((await fetch(`${base}/utf8-new`, { method: 'HEAD' })).status).toBe(404);
    const refused = lines.filter((l) => / 400 (PUT|POST) /.test(l));
    expect(refused).toHaveLength(6);
    expect(refused.filter((l) => / 400 (PUT|POST) \/\S+ INVALID_ARGUMENT: .*the body is not valid UTF-8 /.test(l))).toHaveLength(4);
  });

  it('Stream-Expires-At at or before now: 400 like Stream-TTL: 0, nothing created', async () => {
    for (const expires of ['1970-01-01T00:00:00Z', new Date(Date.now() - 1000).toISOString()]) {
      const r = await fetch(`${base}/expired`, { method: 'PUT', headers: { 'Content-Type': 'text/plain', 'Stream-Expires-At': expires } });
      expect(r.status).toBe(400);
      expect(r.headers.get('location')).toBeNull();
    }
    expect((await fetch(`${base}/expired`, { method: 'PUT', headers: { 'Stream-TTL': '0' } })).status).toBe(400);
    expect((await fetch(`${base}/expired`, { method: 'HEAD' })).status).toBe(404);
    const refused = lines.filter((l) => l.includes(' 400 '));
    expect(refused).toHaveLength(3);
    for (const line of refused) expect(line).toMatch(/ 400 PUT \/expired INVALID_ARGUMENT: .*would expire the stream as it is created$/);
    const later = new Date(Date.now() + 3_600_000).toISOString();
    expect((await fetch(`${base}/expired`, { method: 'PUT', headers: { 'Stream-Expires-At': later } })).status).toBe(201);
  });

  it('a body many times the limit, chunked or declared: the client gets the 413 and the connection closes (no reset)', async () => {
    expect((await fetch(`${base}/big`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: 'x' })).status).toBe(201);
    const total = 1024 * LIMIT; // 1 MiB, 1024 times the limit
    for (const chunked of [true, false]) {
      for (const readWhileSending of [true, false]) {
        const framing = chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${total}`;
        const head = `POST /big HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n${framing}\r\n\r\n`;
        const { bytes, failure } = await sendLarge(base, head, total, chunked, readWhileSending);
        const what = `chunked=${chunked} readWhileSending=${readWhileSending}`;
        expect(failure, what).toBeUndefined();
        const [answer, ...more] = parseResponses(bytes, 'POST');
        expect(answer!.status, what).toBe(413);
        expect(answer!.headers.get('connection'), what).toEqual(['close']);
        expect(JSON.parse(answer!.body.toString()).error.code).toBe('PAYLOAD_TOO_LARGE');
        expect(more).toEqual([]);
      }
    }
    expect(await (await fetch(`${base}/big?offset=-1`)).text()).toBe('x');
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(line).toMatch(/ 413 POST \/big PAYLOAD_TOO_LARGE: /);
    // Their access lines say 413, not a response cut short: the answer went out whole.
    const big = () => access.filter((f) => f['method'] === 'POST' && f['path'] === '/big');
    for (let i = 0; i < 100 && big().length < 4; i++) await new Promise((r) => setTimeout(r, 20));
    expect(big().map((f) => [f['status'], f['aborted']])).toEqual(Array(4).fill([413, undefined]));
  });

  it('a request pipelined behind a 413 is not run: the connection ends with the 413', async () => {
    expect((await fetch(`${base}/after413`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: 'x' })).status).toBe(201);
    const post = (body: string) =>
      `POST /after413 HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const { responses } = await rawExchange(base, post('y'.repeat(2 * LIMIT)) + post('z'), 'POST');
    expect(responses.map((r) => r.status)).toEqual([413]);
    expect(await (await fetch(`${base}/after413?offset=-1`)).text()).toBe('x');
  });

  it('malformed chunking, or a Transfer-Encoding Node cannot read: 400, one log line (the parse error)', async () => {
    const bad = [
      'POST /big HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
      'POST /big HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nTransfer-Encoding: gzip\r\n\r\nabc',
    ];
    for (const request of bad) {
      lines.length = 0;
      const { responses } = await rawExchange(base, request, 'POST');
      expect(responses.map((r) => r.status)).toEqual([400]);
      await new Promise((r) => setTimeout(r, 100)); // a second line would come from the handler
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/ 400 - - HPE_INVALID_(CHUNK_SIZE|TRANSFER_ENCODING): /);
    }
    expect(await (await fetch(`${base}/big?offset=-1`)).text()).toBe('x');
  });

  it('CONNECT: a well-formed 405 with Allow, the connection closed, one log line', async () => {
    const { responses } = await rawExchange(base, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 'CONNECT');
    expect(responses).toHaveLength(1);
    expect(responses[0]!.status).toBe(405);
    expect(responses[0]!.headers.get('allow')).toEqual(['GET, HEAD, PUT, POST, DELETE, OPTIONS']);
    expect(JSON.parse(responses[0]!.body.toString()).error.code).toBe('METHOD_NOT_ALLOWED');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ 405 CONNECT example\.com:443 METHOD_NOT_ALLOWED: /);
  });
});
