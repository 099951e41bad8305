import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createStreamsServer } from '../src/index.js';
import { eventually, InstrumentedStore } from './instrumented-store.js';
import { parseResponses, type RawResponse } from './raw-http.js';
import { openMemoryStore, openSqliteFileStore } from './stores.js';

/** A keep-alive connection: writes when told, keeps every byte that comes back until the server closes it. */
function keepAlive(base: string) {
  const socket = connect(Number(new URL(base).port), '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return {
    write: (bytes: string) => socket.write(bytes),
    /** How many complete response heads came back so far. */
    heads: () => Buffer.concat(chunks).toString('latin1').split('\r\n\r\n').length - 1,
    /** Every response once the server has closed the connection: the first one's to HEAD, the rest to `method`. */
    responses: async (method: string): Promise<RawResponse[]> => {
      await closed;
      const bytes = Buffer.concat(chunks);
      const first = bytes.indexOf('\r\n\r\n') + 4;
      return [...parseResponses(bytes.subarray(0, first), 'HEAD'), ...parseResponses(bytes.subarray(first), method)];
    },
  };
}

const HEAD = 'HEAD /s HTTP/1.1\r\nHost: a\r\n\r\n';

// close() (SIGTERM) while requests are in flight on a keep-alive connection: each answer whose
// head goes out after it began says `Connection: close`, so the client sends its next request
// on a new connection instead of one the server is about to end. Before, only requests that
// began after close() were told; these answers said keep-alive, then the connection closed.
describe.each([
  ['MemoryStreamStore', openMemoryStore],
  ['SqliteStreamStore (a WAL file)', openSqliteFileStore],
])('close(): answers to requests in flight close their connection, on %s', (_label, open) => {
  /** A server on a fresh store with stream `s` ("x"), and a keep-alive connection whose first request (HEAD) is answered. */
  const start = async () => {
    const opened = await open();
    const store = new InstrumentedStore(opened.store);
    const server = createStreamsServer({ store, longPollTimeoutMs: 60_000, log: false });
    const base = await server.listen(0);
    expect((await fetch(`${base}/s`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: 'x' })).status).toBe(201);
    const tail = (await fetch(`${base}/s`, { method: 'HEAD' })).headers.get('stream-next-offset')!;
    let requests = 0;
    server.server.on('request', () => requests++);
    const conn = keepAlive(base);
    conn.write(HEAD);
    expect(await eventually(() => conn.heads() === 1)).toBe(true);
    return { opened, store, server, tail, conn, requests: () => requests };
  };
  /** The HEAD said keep-alive; the answer after close() began says close. */
  const expectClosing = (responses: RawResponse[], status: number) => {
    expect(responses.map((r) => r.status)).toEqual([200, status]);
    expect(responses[0]!.headers.get('connection')).toEqual(['keep-alive']);
    expect(responses[1]!.headers.get('connection')).toEqual(['close']);
  };

  it('a long-poll waiting at the tail: its 204 says Connection: close', async () => {
    const { opened, store, server, tail, conn } = await start();
    conn.write(`GET /s?offset=${tail}&live=long-poll HTTP/1.1\r\nHost: a\r\n\r\n`);
    expect(await eventually(() => store.waitsInFlight === 1)).toBe(true);
    const closed = server.close(10_000);
    const responses = await conn.responses('GET');
    expectClosing(responses, 204);
    expect(responses[1]!.headers.get('stream-next-offset')).toEqual([tail]);
    await closed;
    await opened.close();
  });

  it('an append whose body is still coming: stored, and its 204 says Connection: close', async () => {
    const { opened, server, tail, conn, requests } = await start();
    conn.write('POST /s HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\ny');
    expect(await eventually(() => requests() === 2)).toBe(true); // the HEAD, then the POST
    const closed = server.close(10_000);
    conn.write('z');
    const responses = await conn.responses('POST');
    expectClosing(responses, 204);
    expect(responses[1]!.headers.get('stream-next-offset')).not.toEqual([tail]);
    await closed;
    const read = await opened.store.read('s', '-1');
    expect(read.messages.map((m) => Buffer.from(m.data).toString())).toEqual(['x', 'yz']);
    await opened.close();
  });

  it('a catch-up read waiting for the store: its 200 says Connection: close', async () => {
    const { opened, store, server, conn } = await start();
    store.hold();
    conn.write('GET /s?offset=-1 HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(await eventually(() => store.readsHeld === 1)).toBe(true);
    const closed = server.close(10_000);
    store.release();
    const responses = await conn.responses('GET');
    expectClosing(responses, 200);
    expect(responses[1]!.body.toString()).toBe('x');
    await closed;
    await opened.close();
  });
});
