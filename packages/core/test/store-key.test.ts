import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HASHED_KEY_PREFIX, isStoreKey, StowageError, toStoreKey } from '../src/index.js';
import { ErrorSource, validateKey } from '../src/adapter-kit.js';

const source = new ErrorSource('@stowage/core', 'test');
const accepted = (key: string): boolean => {
  try {
    validateKey(source, 'key', key);
    return true;
  } catch {
    return false;
  }
};
const HASHED = /^#sha256:[0-9a-f]{64}$/;

// Valid keys, invalid ones, and strings that differ only where UTF-8 would not tell them apart.
const valid = [
  'a',
  'alice',
  ":{}%'\\ ",
  '🔑 emoji',
  'x'.repeat(1024),
  'é'.repeat(512),
  '𝄞'.repeat(256),
  'rl:alice',
  '#sha256',
  '#SHA256:x',
];
const invalid = [
  '',
  'x'.repeat(1025),
  'é'.repeat(513),
  '𝄞'.repeat(257),
  `alice${' '.repeat(1100)}`,
  'alice\u0000',
  '\u0000',
  'alice\ud800',
  'alice\udc00',
  '\udc00\ud800', // reversed pair: two lone surrogates
  'a\ud800b',
];

describe('isStoreKey', () => {
  for (const key of [...valid, ...invalid, `${HASHED_KEY_PREFIX}x`]) {
    it(`agrees with validateKey on ${JSON.stringify(key.slice(0, 12))} (${key.length} units)`, () =>
      expect(isStoreKey(key)).toBe(accepted(key)));
  }
  it('is false for a non-string', () => {
    for (const v of [undefined, null, 42, {}, ['a']]) expect(isStoreKey(v)).toBe(false);
  });
});

describe('toStoreKey', () => {
  for (const key of valid) {
    it(`keeps the valid key ${JSON.stringify(key.slice(0, 12))} as it is`, () => expect(toStoreKey(key)).toBe(key));
  }

  for (const key of invalid) {
    it(`hashes ${JSON.stringify(key.slice(0, 12))} (${key.length} units) into a valid key`, () => {
      const mapped = toStoreKey(key);
      expect(mapped).toMatch(HASHED);
      expect(validateKey(source, 'key', mapped)).toBe(mapped);
      expect(toStoreKey(key)).toBe(mapped); // a pure function
    });
  }

  it('hashes the UTF-16 code units: lone surrogates and U+FFFD get three keys (UTF-8 would give one)', () => {
    const keys = ['a\ud800', 'a\udc00', 'a\ufffd', 'a\ud800\ud800', 'a\ud800\udc00'.slice(0, 2)];
    expect(Buffer.from(keys[0]!, 'utf8').equals(Buffer.from(keys[1]!, 'utf8'))).toBe(true); // what UTF-8 would do
    const mapped = keys.map(toStoreKey);
    expect(mapped[0]).toBe(mapped[4]); // the same string
    expect(new Set(mapped.slice(0, 4)).size).toBe(4);
    expect(mapped[2]).toBe('a\ufffd'); // a valid key is kept
    expect(mapped[0]).toBe(
      HASHED_KEY_PREFIX +
        createHash('sha256')
          .update(Buffer.from([0x61, 0x00, 0x00, 0xd8]))
          .digest('hex'),
    );
  });

  it('hashes a valid key that starts with the prefix, so it never meets a hashed key', () => {
    const long = 'k'.repeat(2000);
    const hashed = toStoreKey(long);
    expect(hashed).toMatch(HASHED);
    // The hashed key, sent again as input (a client choosing it as its name), is not kept as is.
    const again = toStoreKey(hashed);
    expect(again).toMatch(HASHED);
    expect(again).not.toBe(hashed);
    expect(toStoreKey(HASHED_KEY_PREFIX)).toMatch(HASHED);
    expect(toStoreKey(`${HASHED_KEY_PREFIX}alice`)).not.toBe(`${HASHED_KEY_PREFIX}alice`);
  });

  it('is injective over a mixed set of strings (no two inputs share a key)', () => {
    const inputs = [...valid, ...invalid, HASHED_KEY_PREFIX, `${HASHED_KEY_PREFIX}x`, toStoreKey('x'.repeat(1025)), 'x'.repeat(1026)];
    for (let i = 0; i < 300; i++) inputs.push(`${String.fromCharCode(0xd800 + (i % 2048))}${i}`, `u${i}\u0000`, 'y'.repeat(1000 + i));
    const distinct = new Set(inputs);
    expect(new Set([...distinct].map(toStoreKey)).size).toBe(distinct.size);
  });

  it('refuses a non-string (INVALID_ARGUMENT)', () => {
    for (const v of [undefined, null, 42, { toString: () => 'x' }]) {
      expect(() => toStoreKey(v as string)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
      expect(() => toStoreKey(v as string)).toThrow(StowageError);
    }
  });
});
