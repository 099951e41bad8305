import { MAX_DURATION_MS, type StowageErrorCode } from '@stowage/core';
import { type AddressInfo, createServer } from 'node:net';
import { expect } from 'vitest';

/** An error that looks like a StowageError (duck-typed: an adapter may ship its own copy of core). */
export interface ErrorLike {
  name: string;
  code: StowageErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/** Awaits `promise`, expects it to reject with a StowageError of `code`, and returns the error. */
export async function expectCode(promise: Promise<unknown> | (() => Promise<unknown>), code: StowageErrorCode): Promise<ErrorLike> {
  let err: unknown;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (e) {
    err = e;
  }
  expect(err, `expected a StowageError ${code}, but the call succeeded`).toBeDefined();
  const e = err as ErrorLike;
  expect(e?.name, `expected a StowageError, got ${String(err)}`).toBe('StowageError');
  expect(e.code, e.message).toBe(code);
  expect(typeof e.message === 'string' && e.message.length > 0).toBe(true);
  // Messages name the package: "@scope/package StoreName: ...".
  expect(e.message).toMatch(/^\S+ \S+: /);
  return e;
}

/** Every byte value, 0 to 255. */
export const ALL_BYTES: Uint8Array = Uint8Array.from({ length: 256 }, (_, i) => i);

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (data: Uint8Array): string => new TextDecoder().decode(data);

/** A byte array of `length` with a recognizable pattern. */
export function filled(length: number, seed = 7): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `fn(i)` for i in [0, n) all at once and waits for all, keeping failures as results. */
export async function race<T>(n: number, fn: (i: number) => Promise<T>): Promise<PromiseSettledResult<T>[]> {
  return Promise.allSettled(Array.from({ length: n }, (_, i) => fn(i)));
}

export function fulfilled<T>(results: PromiseSettledResult<T>[]): T[] {
  return results.filter((r): r is PromiseFulfilledResult<T> => r.status === 'fulfilled').map((r) => r.value);
}

export function rejectedCodes(results: PromiseSettledResult<unknown>[]): string[] {
  return results
    .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    .map((r) => (r.reason as ErrorLike)?.code ?? String(r.reason));
}

/** Keys that stress encoding: separators, quotes, escapes, spaces, emoji, the longest key. */
export const ODD_KEYS: readonly string[] = Object.freeze([
  'plain',
  'a:b',
  ':',
  '{tag}',
  '{',
  '}x{',
  '%s%d%%',
  "it's",
  'back\\slash',
  'with space',
  '  ',
  'tab\tnew\nline',
  '🔑 emoji 👩‍👩‍👧',
  'é (NFC)',
  'e\u0301 (NFD)',
  'CASE',
  'case',
  '*',
  '?',
  '[a-z]',
  '"quoted"',
  '--comment',
  "'; DROP TABLE x; --",
  'x'.repeat(1024),
  'é'.repeat(512),
]);

/** Values no key may take. */
export const BAD_KEYS: readonly [string, unknown][] = Object.freeze([
  ['an empty string', ''],
  ['1025 bytes', 'k'.repeat(1025)],
  ['1026 bytes of two-byte characters', 'é'.repeat(513)],
  ['a NUL character', 'a\u0000b'],
  ['a lone surrogate', 'x\ud83d'],
  ['a number', 42],
  ['null', null],
  ['undefined', undefined],
  ['an object', { id: 'x' }],
  ['an array', ['x']],
]);

/** Values no `...Ms` duration may take. */
export const BAD_DURATIONS: readonly [string, unknown][] = Object.freeze([
  ['zero', 0],
  ['negative', -1000],
  ['fractional', 1000.5],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['over ten years', MAX_DURATION_MS + 1],
  ['huge', Number.MAX_SAFE_INTEGER],
  ['a string', '1000'],
  ['null', null],
  ['a bigint', 1000n],
]);

/** Values a `Uint8Array` argument may not take. */
export const BAD_BYTES: readonly [string, unknown][] = Object.freeze([
  ['a string', 'data'],
  ['a number array', [1, 2, 3]],
  ['null', null],
  ['undefined', undefined],
  ['an ArrayBuffer', new ArrayBuffer(4)],
  ['a DataView', new DataView(new ArrayBuffer(4))],
]);

/** Copies so that a test's later mutation of its own buffer cannot reach the store. */
export const copy = (data: Uint8Array): Uint8Array => Uint8Array.from(data);

/**
 * A port on 127.0.0.1 that was free a moment ago: nothing listens there, so connecting is
 * refused. For tests of a store whose backend is down.
 */
export async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
