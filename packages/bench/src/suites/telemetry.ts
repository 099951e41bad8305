/**
 * What the OpenTelemetry instrumentation costs one store operation, three ways:
 *
 * - `telemetry off`: the store made with `telemetry: false`, which wraps nothing: the same code
 *   path as a process without `@opentelemetry/api` (`instrumentStore` returns before wrapping in
 *   both cases), so this row is the "without the package" baseline the ratios are against;
 * - `API, no SDK`: instrumented, with no tracer or meter provider registered (the API's no-op
 *   ones): a process that has the package installed but never set up an SDK;
 * - `SDK, in-memory exporters`: a `BasicTracerProvider` with a `BatchSpanProcessor` into an
 *   `InMemorySpanExporter` (a new one for each measurement) and a `MeterProvider` with a
 *   `PeriodicExportingMetricReader` into an `InMemoryMetricExporter`: every span recorded.
 *
 * The global providers are set before each measurement of the SDK row and removed before each
 * measurement of the others (contenders alternate within a round).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metrics, trace } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import type { RateLimitPolicy, SessionStore } from '@stowage/core';
import { MemoryRateLimitStore } from '@stowage/stores-memory';
import { SqliteSessionStore } from '@stowage/stores-sqlite';
import Database from 'better-sqlite3';
import type { Comparison, Contender, Op } from '../harness.js';
import { keys } from './data.js';

const OFF = 'stowage, telemetry off (= no API)';
const NOOP = 'stowage, API, no SDK';
const SDK = 'stowage, SDK, in-memory exporters';

/** Registers and removes an SDK as the global providers. */
class Sdk {
  private tracerProvider: BasicTracerProvider | undefined;
  private meterProvider: MeterProvider | undefined;

  async on(): Promise<void> {
    await this.off();
    // A new exporter each time: shutting a provider down stops its exporter.
    this.tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(new InMemorySpanExporter())] });
    const reader = new PeriodicExportingMetricReader({
      exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
      exportIntervalMillis: 1000,
    });
    this.meterProvider = new MeterProvider({ readers: [reader] });
    trace.setGlobalTracerProvider(this.tracerProvider);
    metrics.setGlobalMeterProvider(this.meterProvider);
  }

  async off(): Promise<void> {
    trace.disable();
    metrics.disable();
    await this.tracerProvider?.shutdown();
    await this.meterProvider?.shutdown();
    this.tracerProvider = undefined;
    this.meterProvider = undefined;
  }
}

/** The three rows of one operation: `make(telemetry)` builds the store and its op. */
function threeWays(
  contract: string,
  operation: string,
  backend: string,
  make: (telemetry: boolean) => Promise<{ op: Op; close(): Promise<void> }>,
): Comparison {
  const sdk = new Sdk();
  const contender = (library: string, telemetry: boolean, reset: () => Promise<void>): Contender => {
    let made: { op: Op; close(): Promise<void> } | undefined;
    return {
      library,
      setup: async () => {
        made = await make(telemetry);
        return made.op;
      },
      reset,
      teardown: async () => {
        await made?.close();
        await sdk.off();
      },
    };
  };
  return {
    contract,
    operation,
    backend,
    anchor: contender(OFF, false, () => sdk.off()),
    ours: contender(NOOP, true, () => sdk.off()),
    others: [contender(SDK, true, () => sdk.on())],
  };
}

export function telemetryComparisons(): Comparison[] {
  const ipKeys = keys('ip', 10_000);
  const sids = keys('sid', 10_000);
  const policy: RateLimitPolicy = { algorithm: 'fixed-window', limit: 1_000_000_000, windowMs: 60_000 };
  const dir = mkdtempSync(join(tmpdir(), 'stowage-bench-telemetry-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  let files = 0;

  const consume = threeWays('RateLimitStore', 'consume, 10k keys (telemetry)', 'memory', async (telemetry) => {
    const store = new MemoryRateLimitStore({ telemetry });
    return { op: (i) => store.consume(ipKeys[i % ipKeys.length]!, policy), close: () => store.close() };
  });

  const get = threeWays('SessionStore', 'get, 10k ids (telemetry)', 'sqlite file', async (telemetry) => {
    const database = new Database(join(dir, `sessions-${files++}.db`));
    const store: SessionStore = new SqliteSessionStore({ database, telemetry });
    const data = new TextEncoder().encode('{"cookie":{},"user":42}');
    for (const sid of sids) await store.set(sid, data, { ttlMs: 86_400_000 });
    return {
      op: (i) => store.get(sids[i % sids.length]!),
      close: async () => {
        await store.close();
        database.close();
      },
    };
  });

  return [consume, get];
}
