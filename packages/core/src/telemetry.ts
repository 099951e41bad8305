/**
 * Optional OpenTelemetry instrumentation of stores. With `@opentelemetry/api` installed, each
 * operation of an instrumented store is a span and a duration measurement, sent to the global
 * tracer and meter providers (so a user's SDK set-up works as usual); without the package,
 * {@link instrumentStore} wraps nothing and a store runs exactly as if it were not called.
 *
 * What is recorded never holds a key, id, token, name or value: only the backend, the
 * contract, the operation, the namespace the store was configured with and an error's code.
 *
 * @module
 */

import { createRequire } from 'node:module';
import type * as OtelApi from '@opentelemetry/api';
import type { CsrfTokenStore } from './contracts/csrf.js';
import type { IdempotencyStore } from './contracts/idempotency.js';
import type { JwksCacheStore } from './contracts/jwks.js';
import type { LockStore } from './contracts/lock.js';
import type { RateLimitStore } from './contracts/rate-limit.js';
import type { SessionStore } from './contracts/session.js';
import type { StreamStore } from './contracts/stream.js';
import { StowageError } from './errors.js';

/**
 * The operations of each contract, by the contract's method names (`close` excepted: it ends
 * the store's life, it is no operation on records). `prune` and `health` are instrumented too
 * wherever a store has them.
 */
export const STORE_OPERATIONS = Object.freeze({
  session: Object.freeze(['get', 'set', 'touch', 'destroy', 'rotate', 'destroyByOwner', 'prune'] as const),
  'rate-limit': Object.freeze(['consume', 'peek', 'reset', 'prune'] as const),
  idempotency: Object.freeze(['reserve', 'complete', 'release', 'extend', 'prune'] as const),
  csrf: Object.freeze(['issue', 'validate', 'revoke', 'prune'] as const),
  jwks: Object.freeze(['get', 'put', 'prune'] as const),
  lock: Object.freeze(['acquire', 'extend', 'release', 'prune'] as const),
  stream: Object.freeze(['create', 'append', 'read', 'head', 'closeStream', 'delete', 'wait', 'cleanupExpired'] as const),
});

/** Operations a store may have besides its contract's. */
const EXTRA_OPERATIONS = ['prune', 'health'] as const;

/** A contract's name as recorded in `stowage.contract` and span names. */
export type StoreContract = keyof typeof STORE_OPERATIONS;

// Compile-time check that each list names exactly its contract's methods (but `close`).
type Lists = typeof STORE_OPERATIONS;
type Exact<Store, Listed extends string> = Exclude<keyof Store, Listed | 'close'> | Exclude<Listed, keyof Store>;
type Unlisted =
  | Exact<SessionStore, Lists['session'][number]>
  | Exact<RateLimitStore, Lists['rate-limit'][number]>
  | Exact<IdempotencyStore, Lists['idempotency'][number]>
  | Exact<CsrfTokenStore, Lists['csrf'][number]>
  | Exact<JwksCacheStore, Lists['jwks'][number]>
  | Exact<LockStore, Lists['lock'][number]>
  | Exact<StreamStore, Lists['stream'][number]>;
const everyOperationListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyOperationListed;

/** Where an instrumented store keeps its records, as recorded on its spans and measurements. */
export interface StoreTelemetry {
  /**
   * `db.system.name` (also sent as `db.system`, its name before semantic conventions 1.33,
   * which many back ends still query): `sqlite`, `postgresql`, `redis`, or a custom value for
   * a backend the conventions do not list (the memory stores send `memory`).
   */
  system: string;
  /**
   * `db.namespace`: what tells apart two sets of records on one backend, from the store's
   * options (a schema, a table or key prefix), never from a call. Omitted when undefined.
   */
  namespace?: string | undefined;
  /**
   * `false` leaves the store uninstrumented even with `@opentelemetry/api` installed.
   * @default true
   */
  enabled?: boolean | undefined;
}

/** The instrumentation scope: spans and instruments are named after this package. */
const SCOPE = '@stowage/core';
const INSTRUMENTED = Symbol.for('@stowage/core.instrumented');

type Api = typeof OtelApi;
/** Once loaded: the API, or `null` when it is not installed. */
let loaded: Api | null | undefined;
let scopeVersion: string | undefined;

/**
 * `@opentelemetry/api`, loaded on first use, or `null` when it is not installed. A synchronous
 * `require` rather than `import()`: stores are built synchronously at start-up, and a store
 * built before an asynchronous import settled would stay uninstrumented. The API keeps its
 * providers in one global per major version, so this copy sees the SDK a user registers.
 */
function telemetryApi(): Api | null {
  if (loaded !== undefined) return loaded;
  const require = createRequire(import.meta.url);
  try {
    loaded = require('@opentelemetry/api') as Api;
  } catch {
    loaded = null;
    return loaded;
  }
  try {
    scopeVersion = (require('../package.json') as { version?: string }).version;
  } catch {
    // A bundle without the manifest: the scope then has no version.
  }
  return loaded;
}

/** The tracer and instruments, made again whenever a global provider changes. */
interface Instruments {
  tracerProvider: OtelApi.TracerProvider;
  meterProvider: OtelApi.MeterProvider;
  tracer: OtelApi.Tracer;
  duration: OtelApi.Histogram;
  errors: OtelApi.Counter;
  /** The meter is the API's no-op one (no MeterProvider registered). */
  metricsOff: boolean;
}
let current: Instruments | undefined;
/** The classes of the API's no-op tracer provider and histogram, to tell when nothing records. */
let noop: { tracerProvider: unknown; histogram: unknown } | undefined;

function noopClasses(api: Api): { tracerProvider: unknown; histogram: unknown } {
  noop ??= {
    tracerProvider: new api.ProxyTracerProvider().getDelegate().constructor,
    histogram: api.createNoopMeter().createHistogram('noop').constructor,
  };
  return noop;
}

/**
 * Nothing would record the call: no SDK's tracer provider behind the global proxy and no meter
 * provider. The call then runs unwrapped (no span, no promise chained), so an installed API
 * without an SDK costs two global reads per call.
 */
function idle(api: Api, i: Instruments): boolean {
  if (!i.metricsOff) return false;
  const delegate = (i.tracerProvider as { getDelegate?: () => object }).getDelegate?.();
  return delegate !== undefined && delegate.constructor === noopClasses(api).tracerProvider;
}

/** Semantic conventions' buckets for `db.client.operation.duration`, in seconds. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

/**
 * The tracer and instruments of the providers registered now. Looked up on each call (two
 * global reads) because a meter taken before the SDK was registered stays a no-op forever.
 */
function instrumentsOf(api: Api): Instruments {
  const tracerProvider = api.trace.getTracerProvider();
  const meterProvider = api.metrics.getMeterProvider();
  if (current?.tracerProvider === tracerProvider && current.meterProvider === meterProvider) return current;
  const meter = meterProvider.getMeter(SCOPE, scopeVersion);
  current = {
    tracerProvider,
    meterProvider,
    tracer: tracerProvider.getTracer(SCOPE, scopeVersion),
    duration: meter.createHistogram('db.client.operation.duration', {
      description: 'Duration of store operations',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    errors: meter.createCounter('stowage.client.operation.errors', {
      description: 'Store operations that failed, by error.type (the StowageError code)',
      unit: '{error}',
    }),
    metricsOff: false,
  };
  current.metricsOff = current.duration.constructor === noopClasses(api).histogram;
  return current;
}

/** `error.type`: a StowageError's code, `_OTHER` for anything else (which no store should throw). */
export const errorType = (err: unknown): string => (err instanceof StowageError ? err.code : '_OTHER');

/**
 * Wraps each operation of `store` (its contract's, plus `prune` and `health` where it has them)
 * so that every call is a span named `<operation> <contract>` (kind CLIENT) and one measurement
 * of `db.client.operation.duration` (seconds); a call that fails also sets the span's status to
 * ERROR with `error.type`, the StowageError's code, and counts one `stowage.client.operation.errors`.
 * Attributes, on spans and measurements alike: `db.system.name`, `db.system`,
 * `db.operation.name`, `db.namespace` (when given), `stowage.contract`, and `error.type` on
 * failures. Error messages are left out: they may quote a stream name or a key.
 *
 * Call it at the end of the store's constructor (after its own fields are set): the wrappers
 * are own properties of the instance. Without `@opentelemetry/api`, or with
 * `enabled: false`, nothing is wrapped. Calling it again on the same store does nothing.
 */
export function instrumentStore(store: object, contract: StoreContract, target: StoreTelemetry): void {
  if (target.enabled === false || INSTRUMENTED in store) return;
  const api = telemetryApi();
  if (api === null) return;
  Object.defineProperty(store, INSTRUMENTED, { value: true });
  const methods = store as Record<string, unknown>;
  for (const operation of new Set<string>([...STORE_OPERATIONS[contract], ...EXTRA_OPERATIONS])) {
    const method = methods[operation];
    if (typeof method !== 'function') continue;
    const attributes: OtelApi.Attributes = {
      'db.system.name': target.system,
      'db.system': target.system,
      'db.operation.name': operation,
      ...(target.namespace === undefined ? {} : { 'db.namespace': target.namespace }),
      'stowage.contract': contract,
    };
    Object.defineProperty(store, operation, {
      value: traced(api, `${operation} ${contract}`, attributes, method as (...args: unknown[]) => unknown),
      writable: true,
      configurable: true,
    });
  }
}

/** `method` as one span and one measurement per call. */
function traced(api: Api, name: string, attributes: OtelApi.Attributes, method: (...args: unknown[]) => unknown) {
  const options: OtelApi.SpanOptions = { kind: api.SpanKind.CLIENT, attributes };
  return function instrumented(this: unknown, ...args: unknown[]): unknown {
    const instruments = instrumentsOf(api);
    if (idle(api, instruments)) return method.apply(this, args);
    const { tracer, duration, errors } = instruments;
    const started = performance.now();
    const span = tracer.startSpan(name, options);
    const end = (err: unknown, failed: boolean): void => {
      const seconds = (performance.now() - started) / 1000;
      if (failed) {
        const type = errorType(err);
        const failure = { ...attributes, 'error.type': type };
        span.setAttribute('error.type', type);
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: type });
        duration.record(seconds, failure);
        errors.add(1, failure);
      } else {
        duration.record(seconds, attributes);
      }
      span.end();
    };
    let result: unknown;
    try {
      result = api.context.with(api.trace.setSpan(api.context.active(), span), method, this, ...args);
    } catch (err) {
      // Thrown, not rejected: the caller sees what the store itself does.
      end(err, true);
      throw err;
    }
    return Promise.resolve(result).then(
      (value) => {
        end(undefined, false);
        return value;
      },
      (err: unknown) => {
        end(err, true);
        throw err;
      },
    );
  };
}
