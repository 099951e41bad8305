import { describe, expect, it } from 'vitest';
import { ODD_KEYS } from '../../helpers.js';
import { FP, type IdempotencyOpen, LEASE, token } from './fixtures.js';

export function idempotencyScopeTests(open: IdempotencyOpen): void {
  describe('scopes and keys', () => {
    it('the same key in two scopes is two records', async () => {
      const { store } = await open();
      token(await store.reserve('alice', 'k', FP, { leaseMs: LEASE }));
      token(await store.reserve('bob', 'k', 'bob-fp', { leaseMs: LEASE }));
    });

    it('scope and key never run together: (a:b, c) and (a, b:c) are distinct', async () => {
      const { store } = await open();
      token(await store.reserve('a:b', 'c', FP, { leaseMs: LEASE }));
      token(await store.reserve('a', 'b:c', FP, { leaseMs: LEASE }));
      token(await store.reserve('a:', 'b:c', FP, { leaseMs: LEASE }));
      token(await store.reserve('a', ':b:c', FP, { leaseMs: LEASE }));
    });

    it('odd scopes and keys round-trip and never collide', async () => {
      const { store } = await open();
      for (const k of ODD_KEYS) token(await store.reserve(k, k, FP, { leaseMs: LEASE }));
      for (const k of ODD_KEYS) expect((await store.reserve(k, k, FP, { leaseMs: LEASE })).state).toBe('in-flight');
      for (const k of ODD_KEYS) expect((await store.reserve('plain scope', k, FP, { leaseMs: LEASE })).state).toBe('reserved');
    });

    it('a fingerprint is compared exactly', async () => {
      const { store } = await open();
      const fp = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
      token(await store.reserve('s', 'k', fp, { leaseMs: LEASE }));
      expect(await store.reserve('s', 'k', fp.toUpperCase(), { leaseMs: LEASE })).toEqual({ state: 'mismatch' });
      expect(await store.reserve('s', 'k', `${fp} `, { leaseMs: LEASE })).toEqual({ state: 'mismatch' });
    });
  });
}
