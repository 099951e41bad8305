import { describe, expect, it } from 'vitest';
import { BAD_BYTES, BAD_DURATIONS, BAD_KEYS, bytes, expectCode, race, rejectedCodes } from '../../helpers.js';
import { msgs, readAll, START, type StreamOpen, TEXT } from './fixtures.js';

export function streamBadInputTests(open: StreamOpen): void {
  describe('bad input is INVALID_ARGUMENT and changes nothing', () => {
    for (const [label, name] of BAD_KEYS) {
      it(`name as ${label}`, async () => {
        const { store } = await open();
        const n = name as string;
        await expectCode(store.create(n, { contentType: TEXT }), 'INVALID_ARGUMENT');
        await expectCode(store.append(n, msgs('a')), 'INVALID_ARGUMENT');
        await expectCode(store.read(n, '-1'), 'INVALID_ARGUMENT');
        await expectCode(store.head(n), 'INVALID_ARGUMENT');
        await expectCode(store.closeStream(n), 'INVALID_ARGUMENT');
        await expectCode(store.delete(n), 'INVALID_ARGUMENT');
        await expectCode(store.wait(n, '-1', 100), 'INVALID_ARGUMENT');
        await expectCode(store.create('f', { contentType: TEXT }, { fork: { from: n } }), 'INVALID_ARGUMENT');
        expect(await store.head('f')).toBeUndefined();
      });
    }

    const badConfigs: [string, unknown][] = [
      ['no config', undefined],
      ['no content type', {}],
      ['an empty content type', { contentType: '' }],
      ['a content type with a control character', { contentType: 'text/plain\n' }],
      ['a content type of parameters only', { contentType: ';;;' }],
      ['a content type without a subtype', { contentType: 'text; charset=utf-8' }],
      ['a media range for a content type', { contentType: '*/*' }],
      ['a content type with a parameter of no value', { contentType: 'text/plain; charset' }],
      ['ttlMs and expiresAt together', { contentType: TEXT, ttlMs: 1000, expiresAt: 2_000_000_000_000 }],
      ['a negative expiresAt', { contentType: TEXT, expiresAt: -1 }],
      ['a fractional expiresAt', { contentType: TEXT, expiresAt: 1.5 }],
      ['a string closed', { contentType: TEXT, closed: 'yes' }],
      ...BAD_DURATIONS.map(([l, d]): [string, unknown] => [`ttlMs as ${l}`, { contentType: TEXT, ttlMs: d }]),
    ];
    for (const [label, config] of badConfigs) {
      it(`create with ${label}`, async () => {
        const { store } = await open();
        await expectCode(store.create('s', config as never), 'INVALID_ARGUMENT');
        expect(await store.head('s')).toBeUndefined();
      });
    }

    const badBatches: [string, unknown, boolean][] = [
      // [label, batch, whether create also refuses it as initial messages]
      ['an empty batch', [], false],
      ['an empty message', [new Uint8Array(0)], true],
      ['not an array', bytes('x'), true],
      ...BAD_BYTES.map(([l, b]): [string, unknown, boolean] => [`a message as ${l}`, [bytes('ok'), b], true]),
    ];
    for (const [label, batch, createRefuses] of badBatches) {
      it(`append of ${label}`, async () => {
        const { store } = await open();
        await store.create('s', { contentType: TEXT });
        await expectCode(store.append('s', batch as Uint8Array[]), 'INVALID_ARGUMENT');
        expect(await readAll(store, 's')).toEqual([]);
        if (createRefuses) {
          await expectCode(store.create('t', { contentType: TEXT }, { messages: batch as Uint8Array[] }), 'INVALID_ARGUMENT');
          expect(await store.head('t')).toBeUndefined();
        } else {
          expect((await store.create('t', { contentType: TEXT }, { messages: batch as Uint8Array[] })).info.nextOffset).toBe(START);
        }
      });
    }

    const badProducers: [string, unknown][] = [
      ['no id', { epoch: 0, seq: 0 }],
      ['an empty id', { id: '', epoch: 0, seq: 0 }],
      ['a negative epoch', { id: 'p', epoch: -1, seq: 0 }],
      ['a fractional seq', { id: 'p', epoch: 0, seq: 0.5 }],
      ['an epoch over 2^53 - 1', { id: 'p', epoch: 2 ** 53, seq: 0 }],
      ['a string seq', { id: 'p', epoch: 0, seq: '0' }],
      ['null', null],
    ];
    for (const [label, producer] of badProducers) {
      it(`producer with ${label}`, async () => {
        const { store } = await open();
        await store.create('s', { contentType: TEXT });
        await expectCode(store.append('s', msgs('x'), { producer: producer as never }), 'INVALID_ARGUMENT');
        await expectCode(store.closeStream('s', { producer: producer as never }), 'INVALID_ARGUMENT');
        expect(await store.head('s')).toMatchObject({ closed: false, nextOffset: START });
      });
    }

    it('append options of the wrong type', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      await expectCode(store.append('s', msgs('x'), { seq: '' }), 'INVALID_ARGUMENT');
      await expectCode(store.append('s', msgs('x'), { seq: 5 as never }), 'INVALID_ARGUMENT');
      await expectCode(store.append('s', msgs('x'), { close: 'yes' as never }), 'INVALID_ARGUMENT');
      await expectCode(store.append('s', msgs('x'), { contentType: '' }), 'INVALID_ARGUMENT');
      await expectCode(store.append('s', msgs('x'), 'opts' as never), 'INVALID_ARGUMENT');
      await expectCode(store.read('s', '-1', { maxBytes: 0 }), 'INVALID_ARGUMENT');
      await expectCode(store.read('s', '-1', { maxMessages: 1.5 }), 'INVALID_ARGUMENT');
      await expectCode(store.read('s', '-1', { readOnly: 'yes' as never }), 'INVALID_ARGUMENT');
      expect(await store.head('s')).toMatchObject({ closed: false, nextOffset: START });
    });

    it('fails on bad input without side effects under concurrency', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      const results = await race(30, (i) =>
        i % 3 === 0 ? store.append('s', msgs(`ok${i}`)) : store.append('s', [bytes('x'), new Uint8Array(0)]),
      );
      expect(rejectedCodes(results).every((c) => c === 'INVALID_ARGUMENT')).toBe(true);
      expect((await readAll(store, 's')).length).toBe(10);
    });
  });
}
