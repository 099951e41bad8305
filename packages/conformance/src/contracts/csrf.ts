import type { CsrfTokenStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import { BAD_DURATIONS, BAD_KEYS, expectCode, fulfilled, ODD_KEYS, race, sleep } from '../helpers.js';

const HOUR = 3_600_000;

export function csrfTests(factory: StoreFactory<CsrfTokenStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);

  describe('issue and validate', () => {
    it('issues base64url tokens of at least 128 bits, all different', async () => {
      const { store } = await open();
      const tokens = new Set<string>();
      for (let i = 0; i < 200; i++) tokens.add(await store.issue('sess', { ttlMs: HOUR }));
      expect(tokens.size).toBe(200);
      for (const t of tokens) {
        expect(t).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(t.length).toBeGreaterThanOrEqual(22);
      }
    });

    it('a token validates with its session, repeatedly', async () => {
      const { store } = await open();
      const t = await store.issue('sess', { ttlMs: HOUR });
      for (let i = 0; i < 3; i++) expect(await store.validate('sess', t)).toBe(true);
    });

    it('a token does not validate with another session', async () => {
      const { store } = await open();
      const t = await store.issue('sess-a', { ttlMs: HOUR });
      await store.issue('sess-b', { ttlMs: HOUR });
      expect(await store.validate('sess-b', t)).toBe(false);
      expect(await store.validate('sess-b', t, { consume: true })).toBe(false);
      expect(await store.validate('sess-a', t)).toBe(true);
    });

    it('unknown, empty, altered and huge tokens are false', async () => {
      const { store } = await open();
      const t = await store.issue('sess', { ttlMs: HOUR });
      const altered = t.slice(0, -1) + (t.endsWith('A') ? 'B' : 'A');
      for (const bad of [
        '',
        'nope',
        altered,
        t + t,
        t.toUpperCase() === t ? t.toLowerCase() : t.toUpperCase(),
        'x'.repeat(100_000),
        '\u0000',
      ]) {
        expect(await store.validate('sess', bad)).toBe(false);
      }
      expect(await store.validate('sess', t)).toBe(true);
    });

    it('a session holds several valid tokens at once', async () => {
      const { store } = await open();
      const tokens = [];
      for (let i = 0; i < 5; i++) tokens.push(await store.issue('sess', { ttlMs: HOUR }));
      for (const t of tokens) expect(await store.validate('sess', t)).toBe(true);
    });

    it('odd session ids never collide', async () => {
      const { store } = await open();
      const issued = new Map<string, string>();
      for (const id of ODD_KEYS) issued.set(id, await store.issue(id, { ttlMs: HOUR }));
      for (const [id, t] of issued) {
        expect(await store.validate(id, t), id.slice(0, 20)).toBe(true);
        expect(await store.validate(`x${id}`.slice(0, 300), t)).toBe(false);
      }
    });

    it('tokens are not stored in plain text', async () => {
      if (!options.inspect) return; // the adapter gave no way to look at its raw storage
      const { store, ctx } = await open();
      const t = await store.issue('sess', { ttlMs: HOUR });
      const raw = await options.inspect(ctx);
      expect(raw.length).toBeGreaterThan(0);
      expect(raw).toContain('sess');
      expect(raw.includes(t)).toBe(false);
      expect(raw.includes(Buffer.from(t, 'base64url').toString('hex'))).toBe(false);
    });
  });

  describe('single use (consume)', () => {
    it('a consumed token validates once', async () => {
      const { store } = await open();
      const t = await store.issue('sess', { ttlMs: HOUR });
      expect(await store.validate('sess', t, { consume: true })).toBe(true);
      expect(await store.validate('sess', t, { consume: true })).toBe(false);
      expect(await store.validate('sess', t)).toBe(false);
    });

    it('consuming one token leaves the others of the session valid', async () => {
      const { store } = await open();
      const a = await store.issue('sess', { ttlMs: HOUR });
      const b = await store.issue('sess', { ttlMs: HOUR });
      expect(await store.validate('sess', a, { consume: true })).toBe(true);
      expect(await store.validate('sess', b)).toBe(true);
    });

    it('a wrong session does not consume the token', async () => {
      const { store } = await open();
      const t = await store.issue('sess', { ttlMs: HOUR });
      expect(await store.validate('other', t, { consume: true })).toBe(false);
      expect(await store.validate('sess', t, { consume: true })).toBe(true);
    });

    it('50 parallel consuming validations of one token: exactly one is true', async () => {
      const { store } = await open();
      const t = await store.issue('sess', { ttlMs: HOUR });
      const results = fulfilled(await race(50, () => store.validate('sess', t, { consume: true })));
      expect(results).toHaveLength(50);
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });

  describe('expiry and revocation', () => {
    it('a token is valid 1 ms before its expiry and not at it', async () => {
      const { store, clock } = await open();
      const t = await store.issue('sess', { ttlMs: 10_000 });
      clock.advance(9_999);
      expect(await store.validate('sess', t)).toBe(true);
      clock.advance(1);
      expect(await store.validate('sess', t)).toBe(false);
      expect(await store.validate('sess', t, { consume: true })).toBe(false);
    });

    it('tokens of one session expire independently', async () => {
      const { store, clock } = await open();
      const short = await store.issue('sess', { ttlMs: 1000 });
      const long = await store.issue('sess', { ttlMs: HOUR });
      clock.advance(1000);
      expect(await store.validate('sess', short)).toBe(false);
      expect(await store.validate('sess', long)).toBe(true);
    });

    it('revoke removes every live token of the session, returns how many, and spares others', async () => {
      const { store, clock } = await open();
      const mine = [await store.issue('mine', { ttlMs: HOUR }), await store.issue('mine', { ttlMs: HOUR })];
      await store.issue('mine', { ttlMs: 500 });
      const theirs = await store.issue('theirs', { ttlMs: HOUR });
      clock.advance(500);
      expect(await store.revoke('mine')).toBe(2);
      for (const t of mine) expect(await store.validate('mine', t)).toBe(false);
      expect(await store.validate('theirs', theirs)).toBe(true);
      expect(await store.revoke('mine')).toBe(0);
      expect(await store.revoke('never-had-tokens')).toBe(0);
    });

    it('a session issues new tokens after a revoke', async () => {
      const { store } = await open();
      await store.issue('sess', { ttlMs: HOUR });
      await store.revoke('sess');
      const t = await store.issue('sess', { ttlMs: HOUR });
      expect(await store.validate('sess', t)).toBe(true);
    });

    it('prune removes expired tokens and keeps live ones', async () => {
      const { store, clock } = await open();
      for (let i = 0; i < 4; i++) await store.issue(`s${i}`, { ttlMs: 1000 });
      const live = await store.issue('live', { ttlMs: HOUR });
      clock.advance(1000);
      const removed = await store.prune();
      if (options.nativeExpiry) expect(removed).toBeLessThanOrEqual(4);
      else expect(removed).toBe(4);
      expect(await store.validate('live', live)).toBe(true);
    });

    it('tokens expire in real time on the store clock', async () => {
      const { store } = await open('real-time');
      const t = await store.issue('rt', { ttlMs: 1000 });
      expect(await store.validate('rt', t)).toBe(true);
      await sleep(1400);
      expect(await store.validate('rt', t)).toBe(false);
    });
  });

  describe('bad input is INVALID_ARGUMENT', () => {
    for (const [label, id] of BAD_KEYS) {
      it(`session id as ${label}`, async () => {
        const { store } = await open();
        const t = await store.issue('ok', { ttlMs: HOUR });
        await expectCode(store.issue(id as string, { ttlMs: HOUR }), 'INVALID_ARGUMENT');
        await expectCode(store.validate(id as string, t), 'INVALID_ARGUMENT');
        await expectCode(store.revoke(id as string), 'INVALID_ARGUMENT');
        expect(await store.validate('ok', t)).toBe(true);
      });
    }
    for (const [label, ttl] of BAD_DURATIONS) {
      it(`ttlMs as ${label}`, async () => {
        const { store } = await open();
        await expectCode(store.issue('s', { ttlMs: ttl as number }), 'INVALID_ARGUMENT');
        expect(await store.revoke('s')).toBe(0);
      });
    }
    it('a token that is not a string, and malformed options', async () => {
      const { store } = await open();
      const t = await store.issue('s', { ttlMs: HOUR });
      for (const bad of [undefined, null, 1, {}, ['x']]) await expectCode(store.validate('s', bad as string), 'INVALID_ARGUMENT');
      await expectCode(store.validate('s', t, 'yes' as never), 'INVALID_ARGUMENT');
      await expectCode(store.validate('s', t, { consume: 'yes' } as never), 'INVALID_ARGUMENT');
      await expectCode(store.issue('s', undefined as never), 'INVALID_ARGUMENT');
      expect(await store.validate('s', t)).toBe(true);
    });
  });
}
