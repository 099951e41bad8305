/**
 * Optional OpenTelemetry instrumentation of the server. With `@opentelemetry/api` installed,
 * each request is a SERVER span and an `http.server.request.duration` measurement, and the
 * stream store the server uses counts appends and bytes appended and read, and the live
 * readers waiting are counted. Without the package, {@link streamsTelemetry} is `undefined` and nothing is wrapped.
 *
 * No stream name, URL path, query or header value is recorded: only the method, the status,
 * the protocol version and byte counts.
 *
 * @module
 */
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as OtelApi from '@opentelemetry/api';
import type { StreamStore } from '@stowage/core';
import { rawStatusOf } from './raw-answer.js';

type Api = typeof OtelApi;
type Handle = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

const SCOPE = '@stowage/durable-streams-server';
/** Semantic conventions' buckets for `http.server.request.duration`, in seconds. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
/** Methods recorded as they are; any other is `_OTHER` (semantic conventions: bounded cardinality). */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE']);

let loaded: { api: Api; version: string | undefined } | null | undefined;

/** `@opentelemetry/api` from where this package is installed, once; `null` without it. */
function load(): { api: Api; version: string | undefined } | null {
  if (loaded !== undefined) return loaded;
  const require = createRequire(import.meta.url);
  try {
    const api = require('@opentelemetry/api') as Api;
    let version: string | undefined;
    try {
      version = (require('../package.json') as { version?: string }).version;
    } catch {
      // A bundle without the manifest: the scope then has no version.
    }
    loaded = { api, version };
  } catch {
    loaded = null;
  }
  return loaded;
}

interface Instruments {
  /** No SDK behind either provider: a request is then served as it is, with no span and no measurement. */
  noop: boolean;
  tracerProvider: OtelApi.TracerProvider;
  meterProvider: OtelApi.MeterProvider;
  tracer: OtelApi.Tracer;
  duration: OtelApi.Histogram;
  appends: OtelApi.Counter;
  appendedBytes: OtelApi.Counter;
  readBytes: OtelApi.Counter;
}

export interface StreamsTelemetry {
  /** `store` counting appends and bytes appended and read. */
  store: StreamStore;
  /**
   * Counts live readers that start (+1) or stop (-1) waiting: readers share store waits (one
   * per stream and offset), so the store's waits do not count them.
   */
  waiting(delta: number): void;
  /** `handle` with a SERVER span and a duration measurement per request. */
  traced(handle: Handle): Handle;
  /** The handler closed: its gauge of waiting readers leaves the meter. */
  close(): void;
}

/**
 * The server's instrumentation over `store`, or `undefined` without `@opentelemetry/api`.
 * Tracer and instruments come from the global providers at each request (a meter taken before
 * the SDK was registered would stay a no-op).
 */
export function streamsTelemetry(store: StreamStore): StreamsTelemetry | undefined {
  const found = load();
  if (found === null) return undefined;
  const { api, version } = found;
  let current: Instruments | undefined;
  // What the global tracer provider (a proxy) hands over to until an SDK is registered.
  const noopTracerProvider = new api.ProxyTracerProvider().getDelegate();
  let tracerDelegate: OtelApi.TracerProvider | undefined;
  /** Live readers waiting now: what the gauge reports at each collection. */
  let waitingNow = 0;
  const observeWaiting: OtelApi.ObservableCallback = (result) => result.observe(waitingNow);
  /** The gauge on the current meter provider (a callback on one provider at a time). */
  let gauge: OtelApi.ObservableUpDownCounter | undefined;
  let closed = false;
  const instruments = (): Instruments => {
    const tracerProvider = api.trace.getTracerProvider();
    const meterProvider = api.metrics.getMeterProvider();
    // The proxy stays the same object when an SDK registers behind it: its delegate says.
    const delegate = tracerProvider instanceof api.ProxyTracerProvider ? tracerProvider.getDelegate() : tracerProvider;
    if (current?.tracerProvider === tracerProvider && current.meterProvider === meterProvider && tracerDelegate === delegate)
      return current;
    tracerDelegate = delegate;
    const newMeter = current?.meterProvider !== meterProvider;
    const meter = meterProvider.getMeter(SCOPE, version);
    if (newMeter && !closed) {
      // Observed, not added to: a provider registered (or registered again) while readers
      // wait reports how many wait, never a count carried over from another provider.
      gauge?.removeCallback(observeWaiting);
      gauge = meter.createObservableUpDownCounter('stowage.streams.waiting_readers', {
        description: 'Live readers (long-poll, SSE) waiting for data now',
        unit: '{reader}',
      });
      gauge.addCallback(observeWaiting);
    }
    current = {
      noop: delegate === noopTracerProvider && meter === api.createNoopMeter(),
      tracerProvider,
      meterProvider,
      tracer: tracerProvider.getTracer(SCOPE, version),
      duration: meter.createHistogram('http.server.request.duration', {
        description: 'Duration of HTTP server requests',
        unit: 's',
        advice: { explicitBucketBoundaries: DURATION_BUCKETS },
      }),
      appends: meter.createCounter('stowage.streams.appends', { description: 'Appends that added messages', unit: '{append}' }),
      appendedBytes: meter.createCounter('stowage.streams.appended_bytes', { description: 'Bytes of messages appended', unit: 'By' }),
      readBytes: meter.createCounter('stowage.streams.read_bytes', { description: 'Bytes of messages read', unit: 'By' }),
    };
    return current;
  };
  instruments(); // the gauge on a provider registered before the server, from its start
  return {
    store: countingStore(store, instruments),
    waiting: (delta) => {
      waitingNow += delta;
    },
    traced: (handle) => traced(api, instruments, handle),
    close: () => {
      closed = true;
      gauge?.removeCallback(observeWaiting);
    },
  };
}

/** `store` as seen by the server: the same methods, appends and reads counted. */
function countingStore(store: StreamStore, instruments: () => Instruments): StreamStore {
  const counted: Partial<StreamStore> = {
    append: async (name, messages, opts) => {
      const result = await store.append(name, messages, opts);
      if (!result.duplicate) {
        const i = instruments();
        i.appends.add(1);
        let bytes = 0;
        for (const m of messages) bytes += m.byteLength;
        i.appendedBytes.add(bytes);
      }
      return result;
    },
    read: async (name, from, opts) => {
      const result = await store.read(name, from, opts);
      let bytes = result.bytes?.byteLength;
      if (bytes === undefined) {
        bytes = 0;
        for (const m of result.messages) bytes += m.data.byteLength;
      }
      if (bytes > 0) instruments().readBytes.add(bytes);
      return result;
    },
  };
  // Everything else (health, close, what a store has besides the contract) is the store's own.
  const bound = new Map<PropertyKey, { method: unknown; bound: unknown }>();
  return new Proxy(store, {
    get(target, property) {
      // Own keys only: `counted` is a plain object, so `counted.constructor` would be Object.
      if (Object.hasOwn(counted, property)) return counted[property as keyof StreamStore];
      const value: unknown = Reflect.get(target, property, target);
      // Methods run on the store itself (private fields); its constructor stays as it is (names it on the landing page).
      if (typeof value !== 'function' || property === 'constructor') return value;
      // Bound once per method, not on every call.
      const known = bound.get(property);
      if (known?.method === value) return known.bound;
      const fresh = value.bind(target);
      bound.set(property, { method: value, bound: fresh });
      return fresh;
    },
  });
}

/** One SERVER span per request, ended when its response closes; the request's work runs in its context. */
function traced(api: Api, instruments: () => Instruments, handle: Handle): Handle {
  return (req, res, next) => {
    const { noop, tracer, duration } = instruments();
    // Without an SDK a span and a measurement would be dropped anyway: about 4 us a request saved.
    if (noop) return handle(req, res, next);
    const started = performance.now();
    const method = METHODS.has(req.method ?? '') ? req.method! : '_OTHER';
    const attributes: OtelApi.Attributes = {
      'http.request.method': method,
      ...(method === '_OTHER' ? { 'http.request.method_original': req.method ?? '' } : {}),
      'url.scheme': 'http',
      'network.protocol.version': req.httpVersion,
    };
    // A caller's trace (traceparent) continues here.
    const parent = api.propagation.extract(api.context.active(), req.headers);
    const span = tracer.startSpan(method, { kind: api.SpanKind.SERVER, attributes }, parent);
    let ended = false;
    const end = (handedOn: boolean): void => {
      if (ended) return;
      ended = true;
      if (handedOn) {
        // Mounted as middleware, the request went on to the host app: its time is not ours.
        span.end();
        return;
      }
      const measured: OtelApi.Attributes = { 'http.request.method': method, 'url.scheme': 'http' };
      // A request answered on its socket (a 408 for a body that stalled) has that status.
      const status = rawStatusOf(res) ?? (res.headersSent ? res.statusCode : undefined);
      if (status !== undefined) {
        measured['http.response.status_code'] = status;
        span.setAttribute('http.response.status_code', status);
        if (status >= 500) {
          measured['error.type'] = String(status);
          span.setAttribute('error.type', String(status));
          span.setStatus({ code: api.SpanStatusCode.ERROR });
        }
      } else {
        // The connection closed before any answer (the client left).
        measured['error.type'] = 'aborted';
        span.setAttribute('error.type', 'aborted');
      }
      span.end();
      duration.record((performance.now() - started) / 1000, measured);
    };
    res.once('close', () => end(false));
    const onward =
      next === undefined
        ? undefined
        : (err?: unknown) => {
            end(true);
            next(err);
          };
    api.context.with(api.trace.setSpan(parent, span), () => handle(req, res, onward));
  };
}
