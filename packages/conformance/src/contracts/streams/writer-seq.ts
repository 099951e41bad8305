import { describe, expect, it } from 'vitest';
import { expectCode } from '../../helpers.js';
import { msgs, readAll, type StreamOpen, TEXT } from './fixtures.js';

export function streamWriterSeqTests(open: StreamOpen): void {
  describe('writer sequence (seq)', () => {
    it('must strictly increase; equal or lower is CONFLICT and appends nothing', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      await store.append('s', msgs('1'), { seq: '001' });
      await store.append('s', msgs('2'), { seq: '002' });
      await expectCode(store.append('s', msgs('x'), { seq: '002' }), 'CONFLICT');
      await expectCode(store.append('s', msgs('x'), { seq: '001' }), 'CONFLICT');
      await store.append('s', msgs('3'));
      await store.append('s', msgs('4'), { seq: '003' });
      expect(await readAll(store, 's')).toEqual(['1', '2', '3', '4']);
    });

    it('compares as bytes: "B" < "a", "10" < "9", and é > z', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT });
      await store.append('s', msgs('1'), { seq: 'B' });
      await store.append('s', msgs('2'), { seq: 'a' });
      await expectCode(store.append('s', msgs('x'), { seq: 'B' }), 'CONFLICT');
      await store.append('s', msgs('3'), { seq: 'z' });
      await store.append('s', msgs('4'), { seq: 'é' });
      await store.create('n', { contentType: TEXT });
      await store.append('n', msgs('1'), { seq: '9' });
      await expectCode(store.append('n', msgs('x'), { seq: '10' }), 'CONFLICT');
      await store.create('u', { contentType: TEXT });
      await store.append('u', msgs('1'), { seq: '\uff5e' });
      await store.append('u', msgs('2'), { seq: '\u{1f600}' });
    });
  });
}
