import type { BackgroundErrorContext } from '@stowage/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemorySessionStore, MemoryStreamStore } from '../src/index.js';

afterEach(() => vi.restoreAllMocks());

const STORE = '@stowage/stores-memory MemoryStreamStore';

/** Polls until `ready()` holds; the limit only ends a hung test, it measures nothing. */
async function until(ready: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !ready(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ready()).toBe(true);
}

/** A clock the test can break: while `broken`, it returns NaN, which every call refuses. */
function breakableClock() {
  const state = { now: 1_800_000_000_000, broken: false };
  return { state, clock: () => (state.broken ? Number.NaN : state.now) };
}

/** The stream as the store keeps it, expired or not (what the background cleanup removes). */
const kept = (store: MemoryStreamStore, name: string): unknown =>
  (store as unknown as { backend: { get(name: string): unknown } }).backend.get(name);

describe('background cleanup failures (onError)', () => {
  it('reports each failed cleanupExpired with its code, and the next tick cleans once healthy', async () => {
    const { state, clock } = breakableClock();
    const reports: { code: string; context: BackgroundErrorContext }[] = [];
    const store = new MemoryStreamStore({
      clock,
      pruneIntervalMs: 20,
      onError: (error, context) => reports.push({ code: error.code, context }),
    });
    await store.create('s', { contentType: 'text/plain', ttlMs: 10 });
    state.now += 10;
    state.broken = true;
    await until(() => reports.length >= 2);
    expect(reports[0]).toEqual({ code: 'INVALID_ARGUMENT', context: { operation: 'cleanupExpired', store: STORE } });
    expect(kept(store, 's')).toBeDefined();
    state.broken = false;
    await until(() => kept(store, 's') === undefined);
    await store.create('t', { contentType: 'text/plain' });
    expect((await store.head('t')).closed).toBe(false);
    await store.close();
  });

  it('by default logs one line naming the store, the operation and the code', async () => {
    const lines: unknown[][] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void lines.push(args));
    const { state, clock } = breakableClock();
    const store = new MemoryStreamStore({ clock, pruneIntervalMs: 20 });
    state.broken = true;
    await until(() => lines.length >= 1);
    await store.close();
    for (const args of lines) {
      expect(args).toEqual([
        expect.stringMatching(new RegExp(`^${STORE}: background cleanupExpired failed: INVALID_ARGUMENT: clock returned`)),
      ]);
      expect(args[0]).not.toMatch(/\n/);
    }
  });

  it('an onError that throws does not stop the timer: the default line says so', async () => {
    const lines: unknown[][] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void lines.push(args));
    const { state, clock } = breakableClock();
    let calls = 0;
    const store = new MemoryStreamStore({
      clock,
      pruneIntervalMs: 20,
      onError: () => {
        calls++;
        throw new Error('boom');
      },
    });
    state.broken = true;
    await until(() => calls >= 2 && lines.length >= 2);
    await store.close();
    expect(lines[0]).toEqual([
      expect.stringMatching(new RegExp(`^${STORE}: background cleanupExpired failed \\(and onError threw: boom\\): INVALID_ARGUMENT: `)),
    ]);
  });

  it('refuses an onError that is not a function', () => {
    expect(() => new MemoryStreamStore({ onError: {} as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('options.onError must be a function') }),
    );
  });
});

describe('background sweep failures of the other memory stores (onError)', () => {
  it('reports a sweep whose clock fails, with operation prune, and keeps sweeping', async () => {
    const { state, clock } = breakableClock();
    const reports: { code: string; context: BackgroundErrorContext }[] = [];
    const store = new MemorySessionStore({
      clock,
      pruneIntervalMs: 20,
      onError: (error, context) => reports.push({ code: error.code, context }),
    });
    state.broken = true;
    await until(() => reports.length >= 2);
    expect(reports[0]).toEqual({
      code: 'INVALID_ARGUMENT',
      context: { operation: 'prune', store: '@stowage/stores-memory MemorySessionStore' },
    });
    state.broken = false;
    await store.set('a', new Uint8Array([1]), { ttlMs: 1000 });
    expect(await store.get('a')).toBeDefined();
    await store.close();
  });

  it('health() is ok with a latency while open and names the reason once closed', async () => {
    const store = new MemorySessionStore();
    expect(await store.health()).toEqual({ ok: true, latencyMs: expect.any(Number) });
    await store.close();
    expect(await store.health()).toEqual({ ok: false, latencyMs: 0, error: 'the store is closed' });
  });
});
