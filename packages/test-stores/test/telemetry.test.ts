import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import * as memory from '@stowage/stores-memory';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type BackendName, describeStoreBackends, freshNamespace, type StoreBackend, type StoreSet } from '../src/index.js';
import { type Point, recordTelemetry } from '../src/telemetry.js';

// Registered before any store is made: the stores find the global providers at each call.
const recorded = recordTelemetry();

const SYSTEM: Record<BackendName, string> = { memory: 'memory', sqlite: 'sqlite', postgres: 'postgresql', redis: 'redis' };

/** The `db.namespace` each backend's stores report, as `test-stores` configures them. */
function namespaceOf(kind: BackendName, namespace: string): Record<string, string> {
  if (kind === 'sqlite') return { 'db.namespace': 'stowage_' };
  if (kind === 'postgres') return { 'db.namespace': `${namespace}.stowage_` };
  if (kind === 'redis') return { 'db.namespace': `${namespace}:` };
  return {};
}

// Values no attribute, span name or metric may contain.
const SESSION_ID = 'sess-7f3a-very-secret';
const OWNER = 'owner-alice@example.com';
const STREAM = 'orders/secret-stream';
const RATE_KEY = 'ip:203.0.113.9';
const PAYLOAD = new TextEncoder().encode('payload-of-the-session');

const summary = (s: ReadableSpan) => ({ name: s.name, kind: s.kind, status: s.status.code, attributes: s.attributes });

function leaksNothing(spans: readonly ReadableSpan[], points: readonly Point[]): void {
  const text = JSON.stringify([spans.map((s) => [s.name, s.attributes, s.status, s.events]), points]);
  for (const secret of [SESSION_ID, OWNER, STREAM, RATE_KEY, 'payload-of-the-session', 'secret']) expect(text).not.toContain(secret);
}

await describeStoreBackends((backend: StoreBackend) => {
  const namespace = freshNamespace();
  let set: StoreSet;
  beforeAll(async () => {
    set = await backend.open(namespace);
  });
  afterAll(async () => {
    await set?.close();
  });
  const base = (contract: string, operation: string) => ({
    'db.system.name': SYSTEM[backend.kind],
    'db.system': SYSTEM[backend.kind],
    'db.operation.name': operation,
    ...namespaceOf(backend.kind, namespace),
    'stowage.contract': contract,
  });

  it('session calls are CLIENT spans with the database attributes; a refused one is ERROR with error.type', async () => {
    const sessions = set.sessions();
    await recorded.reset();
    await sessions.set(SESSION_ID, PAYLOAD, { ttlMs: 60_000, owner: OWNER });
    expect((await sessions.get(SESSION_ID))?.version).toBe(1);
    await expect(sessions.set(SESSION_ID, PAYLOAD, { ttlMs: 60_000, ifVersion: 7 })).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await sessions.destroyByOwner(OWNER)).toBe(1);

    const spans = recorded.spans();
    expect(spans.map(summary)).toEqual([
      { name: 'set session', kind: SpanKind.CLIENT, status: SpanStatusCode.UNSET, attributes: base('session', 'set') },
      { name: 'get session', kind: SpanKind.CLIENT, status: SpanStatusCode.UNSET, attributes: base('session', 'get') },
      {
        name: 'set session',
        kind: SpanKind.CLIENT,
        status: SpanStatusCode.ERROR,
        attributes: { ...base('session', 'set'), 'error.type': 'CONFLICT' },
      },
      {
        name: 'destroyByOwner session',
        kind: SpanKind.CLIENT,
        status: SpanStatusCode.UNSET,
        attributes: base('session', 'destroyByOwner'),
      },
    ]);
    expect(spans[2]?.status.message).toBe('CONFLICT');
    expect(spans.every((s) => s.events.length === 0)).toBe(true);

    const points = await recorded.points();
    const byMetric = (name: string) =>
      points.filter((p) => p.metric === name).map(({ attributes, value, unit }) => ({ attributes, value, unit }));
    expect(byMetric('db.client.operation.duration')).toEqual([
      { attributes: base('session', 'set'), value: 1, unit: 's' },
      { attributes: base('session', 'get'), value: 1, unit: 's' },
      { attributes: { ...base('session', 'set'), 'error.type': 'CONFLICT' }, value: 1, unit: 's' },
      { attributes: base('session', 'destroyByOwner'), value: 1, unit: 's' },
    ]);
    expect(byMetric('stowage.client.operation.errors')).toEqual([
      { attributes: { ...base('session', 'set'), 'error.type': 'CONFLICT' }, value: 1, unit: '{error}' },
    ]);
    leaksNothing(spans, points);
  });

  it('every store is instrumented: one span per operation, errors counted by code', async () => {
    const stores = {
      rateLimits: set.rateLimits(),
      idempotency: set.idempotency(),
      csrf: set.csrf(),
      locks: set.locks(),
      jwks: set.jwks(),
      streams: set.streams(),
    };
    await recorded.reset();
    await stores.rateLimits.consume(RATE_KEY, { algorithm: 'fixed-window', limit: 5, windowMs: 60_000 });
    await stores.idempotency.reserve('scope', RATE_KEY, 'fingerprint', { leaseMs: 60_000 });
    const token = await stores.csrf.issue(SESSION_ID, { ttlMs: 60_000 });
    expect(await stores.csrf.validate(SESSION_ID, token)).toBe(true);
    await stores.locks.acquire(STREAM, { ttlMs: 60_000 });
    await stores.jwks.put('https://idp.example/secret/jwks', '{"keys":[]}', { fetchedAt: Date.now(), ttlMs: 60_000 });
    await stores.streams.create(STREAM, { contentType: 'text/plain' });
    await stores.streams.append(STREAM, [PAYLOAD]);
    await stores.streams.read(STREAM, '-1');
    await expect(stores.streams.append(`${STREAM}-missing`, [PAYLOAD])).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(stores.rateLimits.consume('', { algorithm: 'fixed-window', limit: 5, windowMs: 60_000 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect((await stores.locks.health()).ok).toBe(true);

    const spans = recorded.spans();
    expect(spans.map((s) => [s.name, s.attributes['error.type'] ?? null])).toEqual([
      ['consume rate-limit', null],
      ['reserve idempotency', null],
      ['issue csrf', null],
      ['validate csrf', null],
      ['acquire lock', null],
      ['put jwks', null],
      ['create stream', null],
      ['append stream', null],
      ['read stream', null],
      ['append stream', 'NOT_FOUND'],
      ['consume rate-limit', 'INVALID_ARGUMENT'],
      ['health lock', null],
    ]);
    expect(spans[7]?.attributes).toEqual(base('stream', 'append'));
    const points = await recorded.points();
    const errors = points.filter((p) => p.metric === 'stowage.client.operation.errors');
    expect(errors.map((p) => [p.attributes['stowage.contract'], p.attributes['error.type'], p.value])).toEqual([
      ['stream', 'NOT_FOUND', 1],
      ['rate-limit', 'INVALID_ARGUMENT', 1],
    ]);
    const durations = points.filter((p) => p.metric === 'db.client.operation.duration');
    expect(durations.reduce((n, p) => n + p.value, 0)).toBe(12);
    leaksNothing(spans, points);
  });
});

it('a store made with telemetry: false records nothing', async () => {
  const sessions = new memory.MemorySessionStore({ telemetry: false });
  await recorded.reset();
  await sessions.set(SESSION_ID, PAYLOAD, { ttlMs: 60_000 });
  await sessions.get(SESSION_ID);
  await sessions.close();
  expect(recorded.spans()).toEqual([]);
  expect(await recorded.points()).toEqual([]);
  expect(() => new memory.MemorySessionStore({ telemetry: 'no' as never })).toThrow(/options.telemetry must be a boolean/);
});
