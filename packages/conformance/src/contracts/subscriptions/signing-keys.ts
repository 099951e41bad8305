import type { SigningKeyRecord } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { fulfilled, race } from '../../helpers.js';
import type { SubscriptionOpen } from './fixtures.js';

/** A signing key record as a server stores one (the private key sealed by the caller). */
export function signingKey(kid: string, createdAt = 1_800_000_000_000, replacedAt?: number): SigningKeyRecord {
  return {
    kid,
    publicJwk: JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: `x-${kid}`, kid, use: 'sig', alg: 'EdDSA' }),
    privateKeySealed: Buffer.from(`sealed ${kid}`).toString('base64'),
    createdAt,
    ...(replacedAt === undefined ? {} : { replacedAt }),
  };
}

export function subscriptionSigningKeyTests(open: SubscriptionOpen): void {
  describe('signing keys', () => {
    it('none at first (version 0); putSigningKeys with ifVersion replaces them only at that version', async () => {
      const { store } = await open();
      expect(await store.signingKeys()).toEqual({ keys: [], version: 0 });
      const first = [signingKey('ds_1')];
      expect(await store.putSigningKeys(first, 0)).toBe(true);
      const read = await store.signingKeys();
      expect(read.keys).toEqual(first);
      expect(read.version).toBeGreaterThan(0);
      // Rotation: a new key first, the old one kept as replaced.
      const rotated = [signingKey('ds_2', 1_800_000_100_000), signingKey('ds_1', 1_800_000_000_000, 1_800_000_100_000)];
      expect(await store.putSigningKeys(rotated, 0)).toBe(false);
      expect(await store.putSigningKeys(rotated, read.version + 1)).toBe(false);
      expect(await store.signingKeys()).toEqual(read);
      expect(await store.putSigningKeys(rotated, read.version)).toBe(true);
      const after = await store.signingKeys();
      expect(after.keys).toEqual(rotated);
      expect(after.version).not.toBe(read.version);
      // The version read before the rotation is stale now.
      expect(await store.putSigningKeys(first, read.version)).toBe(false);
      expect(await store.signingKeys()).toEqual(after);
    });

    it('20 concurrent putSigningKeys with the same ifVersion: exactly one is true, and its keys are stored', async () => {
      const { store } = await open();
      await store.putSigningKeys([signingKey('ds_0')], 0);
      const { version } = await store.signingKeys();
      const results = fulfilled(await race(20, (i) => store.putSigningKeys([signingKey(`ds_${i + 1}`)], version)));
      expect(results).toHaveLength(20);
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results.indexOf(true);
      expect((await store.signingKeys()).keys).toEqual([signingKey(`ds_${winner + 1}`)]);
    });

    it('signing keys are not subscriptions: they survive deletes and do not show in takeDue', async () => {
      const { store } = await open();
      await store.putSigningKeys([signingKey('ds_1')], 0);
      await store.put('signing-keys', { type: 'webhook', streams: ['a'], webhookUrl: 'https://h.example/', leaseTtlMs: 1000 });
      expect(await store.delete('signing-keys')).toBe(true);
      expect((await store.signingKeys()).keys).toEqual([signingKey('ds_1')]);
      expect(await store.takeDue({ limit: 10 })).toEqual([]);
    });
  });
}
