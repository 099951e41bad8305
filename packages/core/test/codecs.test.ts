import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encryptedCodec, fingerprintRequest, jsonCodec, StowageError } from '../src/index.js';
import { hashToken, randomToken, safeEqual } from '../src/adapter-kit.js';

const corrupt = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StowageError);
    return (err as StowageError).code;
  }
  return 'no error';
};

describe('jsonCodec', () => {
  it('round-trips JSON values, and gives CORRUPT for bytes that are not JSON', () => {
    const value = { a: 1, nested: { s: 'é🔑' }, list: [null, true] };
    expect(jsonCodec.decode(jsonCodec.encode(value, 'id'), 'id')).toEqual(value);
    expect(corrupt(() => jsonCodec.decode(new Uint8Array([0xff, 0xfe]), 'id'))).toBe('CORRUPT');
    expect(corrupt(() => jsonCodec.decode(new TextEncoder().encode('{"a":'), 'id'))).toBe('CORRUPT');
  });

  it('gives INVALID_ARGUMENT with the cause for values JSON cannot encode, in both codecs', () => {
    const circular: Record<string, unknown> = { user: 'ada' };
    circular.self = circular;
    const throwing = {
      toJSON: () => {
        throw new RangeError('no');
      },
    };
    for (const codec of [jsonCodec, encryptedCodec({ keys: [{ id: 'k', key: randomBytes(32) }] })]) {
      for (const value of [circular, { n: 10n }, throwing, undefined]) {
        let caught: unknown;
        try {
          codec.encode(value, 'id');
        } catch (err) {
          caught = err;
        }
        expect(caught).toBeInstanceOf(StowageError);
        expect((caught as StowageError).code).toBe('INVALID_ARGUMENT');
        if (value !== undefined) expect((caught as StowageError).cause).toBeInstanceOf(Error);
      }
    }
  });
});

describe('encryptedCodec (AES-256-GCM with a key ring)', () => {
  const k1 = { id: 'k1', key: randomBytes(32) };
  const k2 = { id: 'k2', key: randomBytes(32).toString('base64') };

  it('round-trips, and the plaintext does not appear in the ciphertext', () => {
    const codec = encryptedCodec({ keys: [k1] });
    const bytes = codec.encode({ secret: 'hunter2' }, 'sid-1');
    expect(Buffer.from(bytes).includes('hunter2')).toBe(false);
    expect(codec.decode(bytes, 'sid-1')).toEqual({ secret: 'hunter2' });
  });

  it('rotates: a new primary key encrypts, old ciphertexts still decrypt', () => {
    const old = encryptedCodec({ keys: [k1] }).encode({ n: 1 }, 'sid');
    const rotated = encryptedCodec({ keys: [k2, k1] });
    expect(rotated.decode(old, 'sid')).toEqual({ n: 1 });
    const fresh = rotated.encode({ n: 2 }, 'sid');
    expect(Buffer.from(fresh).subarray(2, 4).toString()).toBe('k2');
    expect(corrupt(() => encryptedCodec({ keys: [k1] }).decode(fresh, 'sid'))).toBe('CORRUPT');
  });

  it('binds the record id: a ciphertext copied to another id fails with CORRUPT', () => {
    const codec = encryptedCodec({ keys: [k1] });
    const bytes = codec.encode({ user: 'alice' }, 'sid-alice');
    expect(corrupt(() => codec.decode(bytes, 'sid-mallory'))).toBe('CORRUPT');
  });

  it('detects every flipped byte', () => {
    const codec = encryptedCodec({ keys: [k1] });
    const bytes = codec.encode({ v: 'x'.repeat(20) }, 'sid');
    for (let i = 0; i < bytes.length; i++) {
      const copy = Uint8Array.from(bytes);
      copy[i]! ^= 0x01;
      expect(corrupt(() => codec.decode(copy, 'sid'))).toBe('CORRUPT');
    }
    expect(corrupt(() => codec.decode(new Uint8Array(0), 'sid'))).toBe('CORRUPT');
  });

  it('rejects bad key rings with INVALID_ARGUMENT', () => {
    for (const keys of [[], [{ id: 'k', key: randomBytes(16) }], [{ id: 'bad id', key: randomBytes(32) }], [k1, { ...k1 }]]) {
      expect(corrupt(() => encryptedCodec({ keys }))).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('tokens and fingerprints', () => {
  it('randomToken gives 128 bits by default, base64url, never repeating', () => {
    const seen = new Set(Array.from({ length: 1000 }, () => randomToken()));
    expect(seen.size).toBe(1000);
    for (const t of seen) expect(t).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(randomToken(32)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
  it('hashToken is SHA-256 base64url; safeEqual compares exactly', () => {
    expect(hashToken('abc')).toBe('ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
  });
  it('fingerprintRequest separates method, path and body unambiguously', () => {
    const f = fingerprintRequest({ method: 'post', path: '/a', body: 'x' });
    expect(f).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprintRequest({ method: 'POST', path: '/a', body: new TextEncoder().encode('x') })).toBe(f);
    expect(fingerprintRequest({ method: 'POST', path: '/ax', body: '' })).not.toBe(f);
    expect(fingerprintRequest({ method: 'POST', path: '/a', body: 'y' })).not.toBe(f);
    expect(fingerprintRequest({ method: 'PUT', path: '/a', body: 'x' })).not.toBe(f);
    expect(fingerprintRequest({ method: 'POST', path: '/a' })).not.toBe(fingerprintRequest({ method: 'POST', path: '/a', body: '' }));
  });
});
