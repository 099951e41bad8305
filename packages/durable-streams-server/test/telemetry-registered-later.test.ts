import { metrics, trace } from '@opentelemetry/api';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { MemoryStreamStore } from '@stowage/stores-memory';
import { type RecordedTelemetry, recordTelemetry } from '@stowage/test-stores/telemetry';
import { expect, it } from 'vitest';
import { createStreamsServer } from '../src/index.js';

let recorded: RecordedTelemetry;

const eventually = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
};

// No SDK at first: the server serves requests without spans (nothing would record them), and
// must notice an SDK registered later, behind the same global provider objects.
it('an SDK registered after the server started records its later requests', async () => {
  const store = new MemoryStreamStore({ telemetry: false });
  const server = createStreamsServer({ store, log: false });
  const url = `${await server.listen(0)}/late`;
  try {
    expect((await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } })).status).toBe(201);
    const posted = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'before' });
    expect(posted.status).toBe(204);
    // A reader waiting across the registration: counted +1 on the no-op meter, -1 on the SDK's.
    const poll = fetch(`${url}?offset=${posted.headers.get('stream-next-offset')}&live=long-poll`);
    await eventually(() => server.handler.waitingReaders === 1);
    expect(server.handler.waitingReaders).toBe(1);
    recorded = recordTelemetry();
    await recorded.reset();
    expect((await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'after' })).status).toBe(204);
    expect(await (await poll).text()).toBe('after');
    expect(await (await fetch(`${url}?offset=-1`)).text()).toBe('beforeafter');
    for (let i = 0; i < 200 && recorded.spans().length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(recorded.spans().map((s) => s.name)).toEqual(['POST', 'GET']);
    const points = await recorded.points();
    expect([...new Set(points.map((p) => p.metric))].sort()).toEqual([
      'http.server.request.duration',
      'stowage.streams.appended_bytes',
      'stowage.streams.appends',
      'stowage.streams.read_bytes',
      'stowage.streams.waiting_readers',
    ]);
    // The SDK's gauge of waiting readers ends at the true count, 0 (it said -1 before).
    const waiting = points.filter((p) => p.metric === 'stowage.streams.waiting_readers').reduce((n, p) => n + p.value, 0);
    expect(waiting).toBe(0);
  } finally {
    await server.close();
    await store.close();
  }
});

it('the gauge of waiting readers is not counted twice when only the tracer provider changes', async () => {
  const store = new MemoryStreamStore({ telemetry: false });
  const server = createStreamsServer({ store, log: false });
  const url = `${await server.listen(0)}/swap`;
  try {
    const made = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
    expect(made.status).toBe(201);
    await recorded.reset();
    const poll = fetch(`${url}?offset=${made.headers.get('stream-next-offset')}&live=long-poll`);
    await eventually(() => server.handler.waitingReaders === 1);
    expect(server.handler.waitingReaders).toBe(1);
    // Another tracer provider, the same meter provider: the server's instruments are made again.
    trace.disable();
    trace.setGlobalTracerProvider(new BasicTracerProvider());
    expect((await fetch(url, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'x' })).status).toBe(204);
    expect(await (await poll).text()).toBe('x');
    await eventually(() => server.handler.waitingReaders === 0);
    // +1 then -1: none waiting (the reader's +1 counted again when the instruments were made gave 1).
    const points = await recorded.points();
    const waiting = points.filter((p) => p.metric === 'stowage.streams.waiting_readers').reduce((n, p) => n + p.value, 0);
    expect(waiting).toBe(0);
  } finally {
    await server.close();
    await store.close();
  }
});

/** A reader collected by the test (cumulative: each collection says the gauge's value). */
class Reader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

async function gaugeOf(reader: Reader): Promise<number | undefined> {
  const { resourceMetrics } = await reader.collect();
  for (const scope of resourceMetrics.scopeMetrics)
    for (const metric of scope.metrics)
      if (metric.descriptor.name === 'stowage.streams.waiting_readers') return metric.dataPoints.reduce((n, p) => n + Number(p.value), 0);
  return undefined;
}

it('a meter provider registered, replaced and registered again reports the readers waiting now', async () => {
  const store = new MemoryStreamStore({ telemetry: false });
  const server = createStreamsServer({ store, log: false });
  const url = `${await server.listen(0)}/again`;
  const register = (reader: Reader): MeterProvider => {
    metrics.disable();
    const provider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(provider);
    return provider;
  };
  const polls: Promise<Response>[] = [];
  const waitFor = async (n: number, tail: string) => {
    while (polls.length < n) polls.push(fetch(`${url}?offset=${tail}&live=long-poll`));
    await eventually(() => server.handler.waitingReaders === n);
    expect(server.handler.waitingReaders).toBe(n);
    expect((await fetch(url, { method: 'HEAD' })).status).toBe(200); // a request: the server sees the provider
  };
  try {
    const tail = (await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } })).headers.get('stream-next-offset')!;
    const a = new Reader();
    const providerA = register(a);
    await waitFor(2, tail);
    expect(await gaugeOf(a)).toBe(2);
    const b = new Reader();
    register(b);
    await waitFor(3, tail);
    expect(await gaugeOf(b)).toBe(3);
    // A again: it says 3, not the 2 it held plus the 3 waiting now.
    metrics.disable();
    metrics.setGlobalMeterProvider(providerA);
    expect((await fetch(url, { method: 'HEAD' })).status).toBe(200);
    expect(await gaugeOf(a)).toBe(3);
    expect((await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'x' })).status).toBe(204);
    for (const p of await Promise.all(polls)) expect(p.status).toBe(200);
    await eventually(() => server.handler.waitingReaders === 0);
    expect(await gaugeOf(a)).toBe(0);
  } finally {
    await server.close();
    await store.close();
    metrics.disable();
  }
});
