import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';
import type { OpenedTestStore } from './helpers.js';
import { eventually, InstrumentedStore } from './instrumented-store.js';
import { describeEveryStore } from './stores.js';

/**
 * Reads waiting for their turn (`readConcurrency`), over HTTP: a reader that hangs up while it
 * waits frees its place and its read is never made; a wait is bounded by `readQueueTimeoutMs`
 * (503, Retry-After), so a store that does not answer keeps no request waiting without end.
 */
await describeEveryStore((open) => {
  let opened: OpenedTestStore;
  let store: InstrumentedStore;
  let server: StreamsServer;
  let base = '';
  /** Connections the server has seen close. */
  let closed = 0;
  /** Requests the server has received. */
  let requests = 0;
  /** The server's error lines. */
  const lines: string[] = [];
  beforeAll(async () => {
    opened = await open();
    store = new InstrumentedStore(opened.store);
    server = createStreamsServer({ store, log: (l) => lines.push(l), readConcurrency: 1, readQueueTimeoutMs: 400 });
    base = await server.listen(0);
    server.server.on('connection', (socket) => socket.on('close', () => closed++));
    server.server.on('request', () => requests++);
    const headers = { 'Content-Type': 'text/plain' };
    for (let i = 0; i < 21; i++) expect((await fetch(`${base}/q${i}`, { method: 'PUT', headers, body: `m${i}` })).status).toBe(201);
  }, 60_000);
  afterAll(async () => {
    store.release();
    await server?.close();
    await opened?.close();
  });

  it('readers that hang up while they wait leave the queue: their reads are never made', async () => {
    store.hold();
    const startedBefore = store.readsStarted;
    const first = fetch(`${base}/q0?offset=-1`);
    expect(await eventually(() => store.readsHeld === 1)).toBe(true);
    // 20 readers of other streams wait for their turn, then hang up.
    const requestsBefore = requests;
    const leaving = Array.from({ length: 20 }, (_, i) => {
      const ac = new AbortController();
      const answer = fetch(`${base}/q${i + 1}?offset=-1`, { signal: ac.signal }).then(
        () => 'answered',
        () => 'left',
      );
      return { ac, answer };
    });
    expect(await eventually(() => requests - requestsBefore === 20)).toBe(true);
    const closedBefore = closed;
    for (const l of leaving) l.ac.abort();
    expect(await Promise.all(leaving.map((l) => l.answer))).toEqual(Array(20).fill('left'));
    // The server has seen them leave (their connections closed) before the held read ends.
    expect(await eventually(() => closed - closedBefore >= 20)).toBe(true);
    store.release();
    const r = await first;
    expect([r.status, await r.text()]).toEqual([200, 'm0']);
    // The next reader's read is the second made: none of the 20 was.
    const next = await fetch(`${base}/q20?offset=-1`);
    expect([next.status, await next.text()]).toEqual([200, 'm20']);
    expect(store.readsStarted - startedBefore).toBe(2);
    // A hang-up is the client's doing, not a failure of the server: no error line (a 503 line
    // for each, before), only the access line marked aborted.
    expect(lines).toEqual([]);
  });

  it('a reader that waits past readQueueTimeoutMs gets 503 with Retry-After, and the server goes on', async () => {
    store.hold();
    const first = fetch(`${base}/q1?offset=-1`);
    expect(await eventually(() => store.readsHeld === 1)).toBe(true);
    const waited = await Promise.all(Array.from({ length: 5 }, (_, i) => fetch(`${base}/q${i + 2}?offset=-1`)));
    expect(waited.map((w) => w.status)).toEqual([503, 503, 503, 503, 503]);
    expect(waited.map((w) => w.headers.get('retry-after'))).toEqual(['1', '1', '1', '1', '1']);
    expect(((await waited[0]!.json()) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
    store.release();
    expect((await first).status).toBe(200);
    const after = await fetch(`${base}/q2?offset=-1`);
    expect([after.status, await after.text()]).toEqual([200, 'm2']);
  });
});
