import { describe, expect, it } from 'vitest';
import { bytes, ODD_KEYS } from '../../helpers.js';
import { MIN, type SessionOpen } from './fixtures.js';

export function sessionOwnerTests(open: SessionOpen): void {
  describe('owners and destroyByOwner', () => {
    it('records the owner, keeps it when a set omits it, replaces it when a set names another', async () => {
      const { store } = await open();
      await store.set('o', bytes('x'), { ttlMs: MIN, owner: 'alice' });
      expect((await store.get('o'))!.owner).toBe('alice');
      await store.set('o', bytes('y'), { ttlMs: MIN });
      expect((await store.get('o'))!.owner).toBe('alice');
      await store.set('o', bytes('z'), { ttlMs: MIN, owner: 'bob' });
      expect((await store.get('o'))!.owner).toBe('bob');
      expect(await store.destroyByOwner('alice')).toBe(0);
      expect(await store.get('o')).toBeDefined();
      expect(await store.destroyByOwner('bob')).toBe(1);
      expect(await store.get('o')).toBeUndefined();
    });

    it('removes every live session of the owner and no other', async () => {
      const { store } = await open();
      for (let i = 0; i < 5; i++) await store.set(`alice-${i}`, bytes('a'), { ttlMs: MIN, owner: 'alice' });
      for (let i = 0; i < 3; i++) await store.set(`bob-${i}`, bytes('b'), { ttlMs: MIN, owner: 'bob' });
      await store.set('anon', bytes('c'), { ttlMs: MIN });
      expect(await store.destroyByOwner('alice')).toBe(5);
      for (let i = 0; i < 5; i++) expect(await store.get(`alice-${i}`)).toBeUndefined();
      for (let i = 0; i < 3; i++) expect(await store.get(`bob-${i}`)).toBeDefined();
      expect(await store.get('anon')).toBeDefined();
      expect(await store.destroyByOwner('alice')).toBe(0);
    });

    it('keeps the session named in except', async () => {
      const { store } = await open();
      for (const id of ['s1', 's2', 'current']) await store.set(id, bytes('x'), { ttlMs: MIN, owner: 'carol' });
      expect(await store.destroyByOwner('carol', { except: 'current' })).toBe(2);
      expect(await store.get('current')).toBeDefined();
      expect(await store.get('s1')).toBeUndefined();
    });

    it('does not count expired sessions', async () => {
      const { store, clock } = await open();
      await store.set('short', bytes('x'), { ttlMs: 1000, owner: 'dave' });
      await store.set('long', bytes('x'), { ttlMs: MIN, owner: 'dave' });
      clock.advance(1000);
      expect(await store.destroyByOwner('dave')).toBe(1);
    });

    it('is 0 for an unknown owner', async () => {
      const { store } = await open();
      expect(await store.destroyByOwner('nobody')).toBe(0);
    });

    it('owners with odd characters never collide', async () => {
      const { store } = await open();
      for (const [i, owner] of ODD_KEYS.entries()) await store.set(`sid-${i}`, bytes('x'), { ttlMs: MIN, owner });
      for (const [i, owner] of ODD_KEYS.entries()) {
        expect(await store.destroyByOwner(owner), `owner ${JSON.stringify(owner.slice(0, 20))}`).toBe(1);
        expect(await store.get(`sid-${i}`)).toBeUndefined();
        if (i + 1 < ODD_KEYS.length) expect(await store.get(`sid-${i + 1}`)).toBeDefined();
      }
    });

    it('finds a session under its new id after rotate, not under the old one', async () => {
      const { store } = await open();
      await store.set('before', bytes('x'), { ttlMs: MIN, owner: 'erin' });
      await store.rotate('before', 'after');
      await store.set('before', bytes('unrelated'), { ttlMs: MIN, owner: 'frank' });
      expect(await store.destroyByOwner('erin')).toBe(1);
      expect(await store.get('after')).toBeUndefined();
      expect(await store.get('before')).toBeDefined();
    });

    it('a session re-created without an owner is not destroyed by its former owner', async () => {
      const { store } = await open();
      await store.set('x', bytes('1'), { ttlMs: MIN, owner: 'gina' });
      await store.destroy('x');
      await store.set('x', bytes('2'), { ttlMs: MIN });
      expect(await store.destroyByOwner('gina')).toBe(0);
      expect(await store.get('x')).toBeDefined();
    });

    it('sign-out everywhere races with logins: every session that existed before is gone', async () => {
      const { store } = await open();
      for (let i = 0; i < 30; i++) await store.set(`old-${i}`, bytes('x'), { ttlMs: MIN, owner: 'hank' });
      const [count] = await Promise.all([
        store.destroyByOwner('hank'),
        ...Array.from({ length: 10 }, (_, i) => store.set(`new-${i}`, bytes('y'), { ttlMs: MIN, owner: 'hank' })),
      ]);
      for (let i = 0; i < 30; i++) expect(await store.get(`old-${i}`)).toBeUndefined();
      let survivors = 0;
      for (let i = 0; i < 10; i++) if (await store.get(`new-${i}`)) survivors++;
      expect(count).toBe(30 + 10 - survivors);
    });
  });
}
