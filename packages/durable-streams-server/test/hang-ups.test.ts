import { connect } from 'node:net';
import { MemoryStreamStore } from '@stowage/stores-memory';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';
import { eventually, InstrumentedStore } from './instrumented-store.js';

const N = 10;

/**
 * Sends `bytes`, then closes the connection after `after` ms (or once `after` resolves)
 * without reading; resolves to the connection's local port once closed.
 */
function sendAndHangUp(base: string, bytes: string, after: number | Promise<unknown>): Promise<number> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    let localPort = 0;
    const s = connect(Number(port), hostname, () => {
      localPort = s.localPort!;
      s.write(bytes);
      if (typeof after === 'number') setTimeout(() => s.destroy(), after);
      else void after.then(() => s.destroy());
    });
    s.on('error', () => {});
    s.on('close', () => resolve(localPort));
  });
}

describe('clients that hang up', () => {
  const inner = new MemoryStreamStore();
  const store = new InstrumentedStore(inner);
  const lines: string[] = [];
  let server: StreamsServer;
  let base = '';
  beforeAll(async () => {
    server = createStreamsServer({
      store,
      longPollTimeoutMs: 60_000,
      sseMaxDurationMs: 60_000,
      sseHeartbeatMs: 60_000,
      // Every request's read reaches the store (held there); read-queue.test.ts tests the queue.
      readConcurrency: N,
      log: (l) => lines.push(l),
    });
    base = await server.listen(0);
    server.server.on('connection', (socket) => {
      const port = socket.remotePort!;
      socket.on('close', () => closedOnServer.add(port));
    });
  });
  /** Client ports of the connections the server has seen close. */
  const closedOnServer = new Set<number>();
  const seenClosed = (ports: number[]) => eventually(() => ports.every((p) => closedOnServer.has(p)));
  afterAll(async () => {
    await server.close();

    await inner.close();
  });
  afterEach(() => {
    store.release();
    lines.length = 0;
  });
  const tailOf = async (name: string) => (await fetch(`${base}/${name}`, { method: 'HEAD' })).headers.get('stream-next-offset');
  const put = (name: string, body = '') =>
    fetch(`${base}/${name}`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, ...(body === '' ? {} : { body }) });

  it('mid-body on POST and PUT: nothing appended or created, one log line each, no 5xx', async () => {
    expect((await put('body', 'start')).status).toBe(201);
    const tail = await tailOf('body');
    await Promise.all(
      Array.from({ length: N }, (_, i) => [
        sendAndHangUp(base, 'POST /body HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789', 30),
        sendAndHangUp(base, `PUT /new-${i} HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789`, 30),
      ]).flat(),
    );
    expect(await eventually(() => lines.length >= 2 * N)).toBe(true);
    const logged = [...lines];
    expect(await tailOf('body')).toBe(tail);
    expect(await (await fetch(`${base}/body`)).text()).toBe('start');
    for (let i = 0; i < N; i++) expect((await fetch(`${base}/new-${i}`, { method: 'HEAD' })).status).toBe(404);
    expect(logged).toHaveLength(2 * N);
    for (const line of logged)
      expect(line).toMatch(/ 400 (POST|PUT) \/\S+ INVALID_ARGUMENT: .*the client closed the request before its body ended$/);
  });

  it('mid-body while the handler awaits the store first (a fork): the request still ends, nothing created', async () => {
    expect((await put('src', 'abcdef')).status).toBe(201);
    store.hold(); // the fork's sub-offset read waits here while the client leaves
    const left = Array.from({ length: N }, (_, i) =>
      sendAndHangUp(
        base,
        `PUT /fork-${i} HTTP/1.1\r\nHost: a\r\nStream-Forked-From: /src\r\nStream-Fork-Offset: -1\r\nStream-Fork-Sub-Offset: 2\r\n` +
          'Content-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789',
        eventually(() => store.readsHeld === N),
      ),
    );
    // Released only once the server knows every client left: the order that used to leak.
    expect(await seenClosed(await Promise.all(left))).toBe(true);
    store.release();
    // Each request ends in one log line; before the fix the body read never settled.
    expect(await eventually(() => lines.length >= N, 2000)).toBe(true);
    const logged = [...lines];
    expect(logged).toHaveLength(N);
    for (const line of logged) expect(line).toContain('the client closed the request before its body ended');
    for (let i = 0; i < N; i++) expect((await fetch(`${base}/fork-${i}`, { method: 'HEAD' })).status).toBe(404);
  });

  it('during a long-poll or SSE: every waiter is freed at once, nothing logged', async () => {
    expect((await put('live')).status).toBe(201);
    const tail = await tailOf('live');
    const started = store.waitsStarted;
    const clients = Array.from({ length: N }, () => new AbortController());
    const requests = clients.flatMap((ac, i) => [
      fetch(`${base}/live?offset=${tail}&live=long-poll`, { signal: ac.signal }).catch((e: Error) => e.name),
      fetch(`${base}/live?offset=${tail}&live=sse`, { signal: ac.signal }).then(
        (r) => r.text().catch((e: Error) => e.name),
        (e: Error) => e.name,
      ),
      i,
    ]);
    expect(await eventually(() => server.handler.waitingReaders === 2 * N)).toBe(true);
    expect(store.waitsInFlight).toBe(1); // shared by every reader at that offset
    for (const ac of clients) ac.abort();
    expect(await eventually(() => server.handler.waitingReaders === 0, 2000)).toBe(true);
    // The last reader to leave ends the shared wait of the store.
    expect(await eventually(() => store.waitsInFlight === 0, 2000)).toBe(true);
    await Promise.all(requests);
    expect(store.waitsStarted - started).toBe(1);
    expect(lines).toEqual([]);
  });

  it('during the read before the wait: the waiter is never left behind', async () => {
    const tail = await tailOf('live');
    const started = store.waitsStarted;
    store.hold(); // the first read of each live request waits here while its client leaves
    const left = Array.from({ length: N }, (_, i) =>
      sendAndHangUp(
        base,
        `GET /live?offset=${tail}&live=${i % 2 === 0 ? 'long-poll' : 'sse'} HTTP/1.1\r\nHost: a\r\n\r\n`,
        eventually(() => store.readsHeld === N),
      ),
    );
    // Released only once the server knows every client left: the order that used to leak.
    expect(await seenClosed(await Promise.all(left))).toBe(true);
    store.release();
    // A wait for a client already gone ends at once (60 s otherwise) and never reaches the
    // store: the long-polls' (N/2). An SSE response whose client is gone stops before it
    // waits at all: it finds the response closed when it checks that its first events were taken.
    expect(await eventually(() => store.readsInFlight === 0)).toBe(true);
    await new Promise((r) => setTimeout(r, 100)); // what the reads' ends run next
    expect(server.handler.waitingReaders).toBe(0);
    expect(store.waitsStarted - started).toBe(0);
    expect(lines).toEqual([]);
    // The server is fine: an append still wakes a new long-poll.
    const poll = fetch(`${base}/live?offset=${tail}&live=long-poll`);
    expect(await eventually(() => store.waitsInFlight === 1)).toBe(true);
    expect((await fetch(`${base}/live`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'x' })).status).toBe(204);
    expect(await (await poll).text()).toBe('x');
  });
});
