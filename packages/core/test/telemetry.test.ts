import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, describe, expect, it } from 'vitest';
import { instrumentStore, STORE_OPERATIONS } from '../src/adapter-kit.js';
import { StowageError } from '../src/index.js';

const spans = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
trace.setGlobalTracerProvider(provider);

/** A store of the lock contract as a third-party adapter would write it. */
class ToyLockStore {
  calls = 0;
  async acquire(name: string): Promise<{ token: string } | undefined> {
    this.calls++;
    if (name === 'taken') throw new StowageError('CONFLICT', 'taken');
    return { token: 't' };
  }
  extend(): Promise<boolean> {
    throw new TypeError('a bug: thrown, not rejected');
  }
  readonly released = Promise.resolve(true);
  release(): Promise<boolean> {
    return this.released;
  }
  async helper(): Promise<number> {
    return 1;
  }
  async close(): Promise<void> {}
}

describe('instrumentStore', () => {
  it("wraps the contract's operations (and health, prune where present), nothing else; twice is once", async () => {
    const store = new ToyLockStore();
    const { helper, close } = store;
    instrumentStore(store, 'lock', { system: 'toy', namespace: 'ns' });
    instrumentStore(store, 'lock', { system: 'toy', namespace: 'ns' });
    expect(Object.getOwnPropertyNames(store).sort()).toEqual(['acquire', 'calls', 'extend', 'release', 'released']);
    expect([store.helper, store.close]).toEqual([helper, close]);
    spans.reset();
    expect(await store.acquire('free')).toEqual({ token: 't' });
    await expect(store.acquire('taken')).rejects.toMatchObject({ code: 'CONFLICT' });
    // A synchronous throw stays synchronous, and is recorded as a failure of unknown type.
    expect(() => store.extend()).toThrow(TypeError);
    expect(store.calls).toBe(2);
    expect(spans.getFinishedSpans().map((s) => [s.name, s.status.code, s.attributes['error.type'] ?? null])).toEqual([
      ['acquire lock', SpanStatusCode.UNSET, null],
      ['acquire lock', SpanStatusCode.ERROR, 'CONFLICT'],
      ['extend lock', SpanStatusCode.ERROR, '_OTHER'],
    ]);
    expect(spans.getFinishedSpans()[0]?.attributes).toEqual({
      'db.system.name': 'toy',
      'db.system': 'toy',
      'db.operation.name': 'acquire',
      'db.namespace': 'ns',
      'stowage.contract': 'lock',
    });
  });

  it('enabled: false wraps nothing', () => {
    const store = new ToyLockStore();
    instrumentStore(store, 'lock', { system: 'toy', enabled: false });
    expect(Object.getOwnPropertyNames(store)).toEqual(['calls', 'released']);
  });

  it('calls the method itself while no SDK would record (no tracer provider, no meter provider)', async () => {
    const store = new ToyLockStore();
    instrumentStore(store, 'lock', { system: 'toy' });
    spans.reset();
    trace.disable();
    try {
      // The method's own promise: nothing chained, no span.
      expect(store.release()).toBe(store.released);
    } finally {
      trace.setGlobalTracerProvider(provider);
    }
    expect(store.release()).not.toBe(store.released);
    await store.release();
    expect(spans.getFinishedSpans().map((s) => s.name)).toEqual(['release lock', 'release lock']);
  });

  it('lists every operation of each contract once', () => {
    for (const operations of Object.values(STORE_OPERATIONS)) expect(new Set(operations).size).toBe(operations.length);
    expect(Object.keys(STORE_OPERATIONS)).toEqual(['session', 'rate-limit', 'idempotency', 'csrf', 'jwks', 'lock', 'stream']);
  });
});

describe('without @opentelemetry/api', () => {
  // The built package in a directory of its own, where `@opentelemetry/api` resolves only when
  // copied in: what an application that never installed it runs.
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const dir = mkdtempSync(join(tmpdir(), 'stowage-no-otel-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const core = join(dir, 'node_modules', '@stowage', 'core');
  cpSync(join(root, 'packages', 'core', 'package.json'), join(core, 'package.json'));
  cpSync(join(root, 'packages', 'core', 'dist'), join(core, 'dist'), { recursive: true });
  writeFileSync(
    join(dir, 'probe.mjs'),
    `import { instrumentStore } from '@stowage/core/adapter-kit';
const store = { async get() { return 1; }, async set() { return { version: 1 }; } };
const { get, set } = store;
instrumentStore(store, 'session', { system: 'probe' });
console.log(JSON.stringify({ same: store.get === get && store.set === set, symbols: Object.getOwnPropertySymbols(store).length, answer: await store.get() }));
`,
  );
  const probe = () => JSON.parse(execFileSync(process.execPath, [join(dir, 'probe.mjs')], { cwd: dir, encoding: 'utf8' }));

  it('leaves every method as it was', () => {
    expect(probe()).toEqual({ same: true, symbols: 0, answer: 1 });
  });

  it('(the same probe with the package installed wraps them)', () => {
    cpSync(join(root, 'node_modules', '@opentelemetry', 'api'), join(dir, 'node_modules', '@opentelemetry', 'api'), { recursive: true });
    expect(probe()).toEqual({ same: false, symbols: 1, answer: 1 });
  });
});
