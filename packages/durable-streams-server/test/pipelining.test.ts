import { connect } from 'node:net';
import { MemoryStreamStore } from '@stowage/stores-memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';
import { randomSuffix, type OpenedTestStore } from './helpers.js';
import { eventually, InstrumentedStore } from './instrumented-store.js';
import { rawExchange } from './raw-http.js';
import { describeEveryStore } from './stores.js';

const N = 20;
const text = (method: string, path: string, body: string, extra = '') =>
  `${method} ${path} HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
const seqOf = (offset: string | undefined) => Number(offset?.split('_')[1]);

// One keep-alive connection carrying a PUT, then POSTs, then a GET, all written at once.
// Node emits 'request' for each as it parses it; the handler must still run them in order.
await describeEveryStore((open) => {
  let opened: OpenedTestStore;
  let server: StreamsServer;
  let base = '';
  const lines: string[] = [];
  beforeAll(async () => {
    opened = await open();
    server = createStreamsServer({ store: opened.store, log: (l) => lines.push(l) });
    base = await server.listen(0);
  }, 60_000);
  afterAll(async () => {
    await server.close();
    await opened.close();
  });

  it(`pipelined PUT, ${N} POSTs and a GET on one connection: run in order, each sees the one before`, async () => {
    const path = `/pipe-${randomSuffix()}`;
    let bytes = text('PUT', path, '');
    for (let i = 0; i < N; i++) bytes += text('POST', path, `${i},`);
    bytes += `GET ${path}?offset=-1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`;
    const { responses, bytes: answer } = await rawExchange(base, bytes, 'GET', { timeoutMs: 20_000 });
    expect(responses.map((r) => r.status)).toEqual([201, ...Array<number>(N).fill(204), 200]);
    // Protocol headers go out spelled as the protocol (and the README) spell them.
    expect(answer.toString('latin1').split('\r\nStream-Next-Offset: ')).toHaveLength(N + 3);
    // Each POST's tail is the one after the previous request's: appended in the order sent.
    const tails = responses.map((r) => seqOf(r.headers.get('stream-next-offset')?.[0]));
    expect(tails).toEqual([...Array.from({ length: N + 1 }, (_, i) => i), N]);
    // The GET saw every write before it, in order.
    expect(responses.at(-1)!.body.toString()).toBe(Array.from({ length: N }, (_, i) => `${i},`).join(''));
    expect(lines).toEqual([]);
  }, 30_000);

  it('a request Node cannot parse, pipelined behind good ones: they are answered first, then its 400, one log line', async () => {
    const path = `/pipe-${randomSuffix()}`;
    const bad = `POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`;
    const { responses } = await rawExchange(base, text('PUT', path, 'a;') + text('POST', path, 'b;') + bad, 'POST', { timeoutMs: 20_000 });
    expect(responses.map((r) => r.status)).toEqual([201, 204, 400]);
    expect(await (await fetch(`${base}${path}?offset=-1`)).text()).toBe('a;b;');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ 400 - - HPE_INVALID_CHUNK_SIZE: /);
    lines.length = 0;
  }, 30_000);
});

describe('requests pipelined behind one whose client leaves', () => {
  const store = new InstrumentedStore(new MemoryStreamStore());
  const lines: string[] = [];
  let server: StreamsServer;
  let base = '';
  beforeAll(async () => {
    server = createStreamsServer({ store, longPollTimeoutMs: 60_000, log: (l) => lines.push(l) });
    base = await server.listen(0);
  });
  afterAll(async () => {
    await server.close();
    await store.close();
  });

  it('wait their turn (a POST behind a long-poll does not wake it), and are dropped unrun once the client is gone', async () => {
    const path = `/pipe-${randomSuffix()}`;
    const created = await fetch(`${base}${path}`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: 'start' });
    const tail = created.headers.get('stream-next-offset')!;
    const { port } = new URL(base);
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    socket.on('data', (c: Buffer) => (received += c.toString('latin1')));
    socket.on('error', () => {});
    socket.write(`GET ${path}?offset=${tail}&live=long-poll HTTP/1.1\r\nHost: a\r\n\r\n${text('POST', path, 'late')}`);
    // The long-poll waits; the POST behind it has not run (it would have woken the long-poll).
    expect(await eventually(() => store.waitsInFlight === 1)).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(received).toBe('');
    expect(await (await fetch(`${base}${path}?offset=-1`)).text()).toBe('start');
    socket.destroy();
    expect(await eventually(() => store.waitsInFlight === 0)).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(await (await fetch(`${base}${path}?offset=-1`)).text()).toBe('start');
    // Not run at all: a POST run after its client left would log its cut body.
    expect(lines).toEqual([]);
  });
});
