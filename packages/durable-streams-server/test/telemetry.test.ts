import { context, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MemoryStreamStore } from '@stowage/stores-memory';
import { recordTelemetry } from '@stowage/test-stores/telemetry';
import { expect, it } from 'vitest';
import { createStreamsServer } from '../src/index.js';
import { describeEveryServer } from './stores.js';

// Registered before any server is made: the server finds the global providers at each request.
const recorded = recordTelemetry();
// With a context manager (as NodeSDK registers one), store spans are children of the request's.
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

// A stream name no attribute, span name or metric may contain.
const STREAM = 'tenant-acme/secret-orders';

const until = async (check: () => Promise<boolean>): Promise<void> => {
  for (let i = 0; i < 500 && !(await check()); i++) await new Promise((r) => setTimeout(r, 10));
};

await describeEveryServer({ basePath: '/', log: false, longPollTimeoutMs: 10_000 }, (served) => {
  it('requests are SERVER spans and duration measurements; appends, bytes and waiting readers are counted', async () => {
    const url = `${served.base}/${STREAM}`;
    await recorded.reset();
    expect((await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } })).status).toBe(201);
    expect((await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'hello' })).status).toBe(204);
    const first = await fetch(`${url}?offset=-1`);
    expect(await first.text()).toBe('hello');
    const tail = first.headers.get('stream-next-offset')!;
    expect((await fetch(`${served.base}/${STREAM}-missing?offset=-1`)).status).toBe(404);
    // Measurements so far; the long-poll below is counted apart.
    const before = await recorded.points();

    const poll = fetch(`${url}?offset=${tail}&live=long-poll`);
    // The gauge is observed at each collection (a delta here): it rises by one as the reader waits.
    let waiting = 0;
    await until(async () => {
      for (const p of await recorded.points()) if (p.metric === 'stowage.streams.waiting_readers') waiting += p.value;
      return waiting !== 0;
    });
    expect(waiting).toBe(1);
    expect((await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'abc' })).status).toBe(204);
    const woken = await poll;
    expect([woken.status, await woken.text()]).toEqual([200, 'abc']);
    await until(async () => recorded.spans().filter((s) => s.kind === SpanKind.SERVER).length === 6);
    const after = await recorded.points();

    const server = recorded.spans().filter((s) => s.kind === SpanKind.SERVER);
    const summary = server.map((s) => [s.name, s.attributes['http.response.status_code'], s.status.code]);
    expect(summary.slice(0, 4)).toEqual([
      ['PUT', 201, SpanStatusCode.UNSET],
      ['POST', 204, SpanStatusCode.UNSET],
      ['GET', 200, SpanStatusCode.UNSET],
      ['GET', 404, SpanStatusCode.UNSET],
    ]);
    // The long-poll and the append that woke it end in either order.
    expect(summary.slice(4).sort()).toEqual([
      ['GET', 200, SpanStatusCode.UNSET],
      ['POST', 204, SpanStatusCode.UNSET],
    ]);
    // The store's calls ran in the request's context: the PUT's `create stream` is its child.
    const created = recorded.spans().find((s) => s.name === 'create stream');
    expect(created?.kind).toBe(SpanKind.CLIENT);
    expect(created?.parentSpanContext?.spanId).toBe(server[0]?.spanContext().spanId);
    expect(created?.spanContext().traceId).toBe(server[0]?.spanContext().traceId);
    expect(server[0]?.attributes).toEqual({
      'http.request.method': 'PUT',
      'url.scheme': 'http',
      'network.protocol.version': '1.1',
      'http.response.status_code': 201,
    });

    const value = (points: typeof before, metric: string) => points.filter((p) => p.metric === metric).reduce((n, p) => n + p.value, 0);
    expect(
      ['stowage.streams.appends', 'stowage.streams.appended_bytes', 'stowage.streams.read_bytes'].map((m) => [
        value(before, m),
        value(after, m),
      ]),
    ).toEqual([
      [1, 1],
      [5, 3],
      // The woken long-poll got the append's message from the append itself: no read of the store.
      [5, 0],
    ]);
    // The reader stopped waiting: +1 then -1 in this collection.
    expect(value(after, 'stowage.streams.waiting_readers')).toBe(-1);
    const requests = before.filter((p) => p.metric === 'http.server.request.duration');
    expect(requests.map((p) => [p.attributes['http.request.method'], p.attributes['http.response.status_code'], p.value, p.unit])).toEqual([
      ['PUT', 201, 1, 's'],
      ['POST', 204, 1, 's'],
      ['GET', 200, 1, 's'],
      ['GET', 404, 1, 's'],
    ]);
    const text = JSON.stringify([recorded.spans().map((s) => [s.name, s.attributes]), before, after]);
    expect(text).not.toContain('secret-orders');
    expect(text).not.toContain('tenant-acme');
  });
});

it('telemetry: false records no span and no measurement, with the SDK registered', async () => {
  const store = new MemoryStreamStore({ telemetry: false }); // the store's own spans are its option
  /** PUT, POST and GET of one stream on a server over `store`; the spans and points they left. */
  const exercise = async (options: { telemetry?: boolean }) => {
    const server = createStreamsServer({ store, log: false, ...options });
    const url = `${await server.listen(0)}/${STREAM}-${options.telemetry ?? 'default'}`;
    try {
      await recorded.reset();
      expect((await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } })).status).toBe(201);
      expect((await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'hello' })).status).toBe(204);
      expect(await (await fetch(`${url}?offset=-1`)).text()).toBe('hello');
      await until(async () => recorded.spans().length >= 3);
      return { spans: recorded.spans().map((s) => s.name), metrics: [...new Set((await recorded.points()).map((p) => p.metric))].sort() };
    } finally {
      await server.close();
    }
  };
  try {
    // The same requests on a server with the default: recorded (so the SDK is listening).
    expect(await exercise({})).toEqual({
      spans: ['PUT', 'POST', 'GET'],
      metrics: [
        'http.server.request.duration',
        'stowage.streams.appended_bytes',
        'stowage.streams.appends',
        'stowage.streams.read_bytes',
        'stowage.streams.waiting_readers',
      ],
    });
    expect(await exercise({ telemetry: false })).toEqual({ spans: [], metrics: [] });
  } finally {
    await store.close();
  }
});
