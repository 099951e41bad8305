import { describe, expect, it } from 'vitest';
import { BAD_BYTES, BAD_DURATIONS, BAD_KEYS, bytes, expectCode } from '../../helpers.js';
import { MIN, type SessionOpen } from './fixtures.js';

export function sessionBadInputTests(open: SessionOpen): void {
  describe('bad input is INVALID_ARGUMENT and changes nothing', () => {
    for (const [label, id] of BAD_KEYS) {
      it(`id as ${label}`, async () => {
        const { store } = await open();
        await store.set('ok', bytes('x'), { ttlMs: MIN, owner: 'ok' });
        await expectCode(store.get(id as string), 'INVALID_ARGUMENT');
        await expectCode(store.set(id as string, bytes('y'), { ttlMs: MIN }), 'INVALID_ARGUMENT');
        await expectCode(store.touch(id as string, MIN), 'INVALID_ARGUMENT');
        await expectCode(store.destroy(id as string), 'INVALID_ARGUMENT');
        await expectCode(store.rotate(id as string, 'new'), 'INVALID_ARGUMENT');
        await expectCode(store.rotate('ok', id as string), 'INVALID_ARGUMENT');
        await expectCode(store.destroyByOwner(id as string), 'INVALID_ARGUMENT');
        if (id !== undefined) {
          // An undefined optional field means "not given", so only other values are bad here.
          await expectCode(store.destroyByOwner('ok', { except: id as string }), 'INVALID_ARGUMENT');
          await expectCode(store.set('ok', bytes('y'), { ttlMs: MIN, owner: id as string }), 'INVALID_ARGUMENT');
        }
        expect(await store.get('ok')).toMatchObject({ version: 1, owner: 'ok' });
      });
    }

    for (const [label, ttl] of BAD_DURATIONS) {
      it(`ttlMs as ${label}`, async () => {
        const { store, clock } = await open();
        await store.set('ok', bytes('x'), { ttlMs: MIN });
        await expectCode(store.set('ok', bytes('y'), { ttlMs: ttl as number }), 'INVALID_ARGUMENT');
        await expectCode(store.set('new', bytes('y'), { ttlMs: ttl as number }), 'INVALID_ARGUMENT');
        await expectCode(store.set('new', bytes('y'), { ttlMs: MIN, absoluteTtlMs: ttl as number }), 'INVALID_ARGUMENT');
        await expectCode(store.touch('ok', ttl as number), 'INVALID_ARGUMENT');
        await expectCode(store.rotate('ok', 'moved', { ttlMs: ttl as number }), 'INVALID_ARGUMENT');
        expect(await store.get('ok')).toMatchObject({ version: 1, expiresAt: clock.now() + MIN });
        expect(await store.get('new')).toBeUndefined();
        expect(await store.get('moved')).toBeUndefined();
      });
    }

    for (const [label, data] of BAD_BYTES) {
      it(`data as ${label}`, async () => {
        const { store } = await open();
        await expectCode(store.set('s', data as Uint8Array, { ttlMs: MIN }), 'INVALID_ARGUMENT');
        expect(await store.get('s')).toBeUndefined();
      });
    }

    for (const [label, v] of [
      ['negative', -1],
      ['fractional', 1.5],
      ['NaN', Number.NaN],
      ['a string', '1'],
      ['null', null],
    ] as const) {
      it(`ifVersion as ${label}`, async () => {
        const { store } = await open();
        await store.set('s', bytes('x'), { ttlMs: MIN });
        await expectCode(store.set('s', bytes('y'), { ttlMs: MIN, ifVersion: v as unknown as number }), 'INVALID_ARGUMENT');
        expect((await store.get('s'))!.version).toBe(1);
      });
    }

    it('missing or malformed options', async () => {
      const { store } = await open();
      await expectCode(store.set('s', bytes('x'), undefined as never), 'INVALID_ARGUMENT');
      await expectCode(store.set('s', bytes('x'), {} as never), 'INVALID_ARGUMENT');
      await expectCode(store.set('s', bytes('x'), 'ttl' as never), 'INVALID_ARGUMENT');
      await expectCode(store.rotate('a', 'b', 5 as never), 'INVALID_ARGUMENT');
      await expectCode(store.destroyByOwner('a', 'b' as never), 'INVALID_ARGUMENT');
      expect(await store.get('s')).toBeUndefined();
    });
  });
}
