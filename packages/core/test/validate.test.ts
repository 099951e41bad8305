import { describe, expect, it } from 'vitest';
import { MAX_DURATION_MS, StowageError } from '../src/index.js';
import { ErrorSource, validateBytes, validateDuration, validateIdentifier, validateKey } from '../src/adapter-kit.js';

const source = new ErrorSource('@stowage/core', 'test');
const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(StowageError);
    expect((err as Error).message).toMatch(/^@stowage\/core test: /);
    return (err as StowageError).code;
  }
};

describe('validateKey', () => {
  const good = ['a', ":{}%'\\ ", '🔑 emoji', 'x'.repeat(1024), 'é'.repeat(512), '𝄞'.repeat(256)];
  for (const key of good)
    it(`accepts ${JSON.stringify(key.slice(0, 12))} (${Buffer.byteLength(key)} bytes)`, () => {
      expect(validateKey(source, 'id', key)).toBe(key);
    });
  const bad: [string, unknown][] = [
    ['empty', ''],
    ['1025 bytes', 'x'.repeat(1025)],
    ['1026 bytes of 2-byte chars', 'é'.repeat(513)],
    ['NUL', 'a\u0000b'],
    ['a lone surrogate', 'a\ud800'],
    ['a number', 42],
    ['null', null],
    ['undefined', undefined],
    ['an object', { toString: () => 'x' }],
  ];
  for (const [label, key] of bad) it(`rejects ${label}`, () => expect(code(() => validateKey(source, 'id', key))).toBe('INVALID_ARGUMENT'));

  it('states a length over the limit in UTF-8 bytes, the unit of the limit (not UTF-16 units)', () => {
    // 600 two-byte characters: 600 UTF-16 units, 1200 UTF-8 bytes.
    expect(() => validateKey(source, 'id', 'é'.repeat(600))).toThrow(
      '@stowage/core test: id must be 1 to 1024 UTF-8 bytes, got 1200 UTF-8 bytes',
    );
    expect(() => validateKey(source, 'id', '')).toThrow('@stowage/core test: id must be 1 to 1024 UTF-8 bytes, got an empty string');
  });
});

describe('validateDuration', () => {
  for (const ms of [1, 1000, MAX_DURATION_MS]) it(`accepts ${ms}`, () => expect(validateDuration(source, 'ttlMs', ms)).toBe(ms));
  for (const ms of [0, -1, 1.5, NaN, Infinity, -Infinity, MAX_DURATION_MS + 1, '1000', null, undefined, 10n]) {
    it(`rejects ${String(ms)}`, () => expect(code(() => validateDuration(source, 'ttlMs', ms))).toBe('INVALID_ARGUMENT'));
  }
});

describe('validateBytes', () => {
  it('accepts Uint8Array and Buffer up to the limit', () => {
    expect(validateBytes(source, 'data', new Uint8Array(4), 4).byteLength).toBe(4);
    expect(validateBytes(source, 'data', Buffer.alloc(4), 4).byteLength).toBe(4);
  });
  it('over the limit is PAYLOAD_TOO_LARGE, other types INVALID_ARGUMENT', () => {
    expect(code(() => validateBytes(source, 'data', new Uint8Array(5), 4))).toBe('PAYLOAD_TOO_LARGE');
    expect(code(() => validateBytes(source, 'data', 'text', 4))).toBe('INVALID_ARGUMENT');
    expect(code(() => validateBytes(source, 'data', [1, 2], 4))).toBe('INVALID_ARGUMENT');
  });
});

describe('validateIdentifier', () => {
  for (const id of ['stowage_', 'a', '_x1', 'T'.repeat(40)])
    it(`accepts ${id}`, () => expect(validateIdentifier(source, 'tablePrefix', id)).toBe(id));
  for (const id of ['', '1abc', 'a-b', 'a b', 'x"; DROP TABLE t; --', 'é', 'T'.repeat(41), 7]) {
    it(`rejects ${String(id)}`, () => expect(code(() => validateIdentifier(source, 'tablePrefix', id))).toBe('INVALID_ARGUMENT'));
  }
});
