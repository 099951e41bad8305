import { describe, expect, it } from 'vitest';
import { compareUtf8, STREAM_START_OFFSET, StowageError } from '../src/index.js';
import { checkProducer, ErrorSource, formatOffset, normalizeContentType, parseOffset } from '../src/adapter-kit.js';

const source = new ErrorSource('@stowage/core', 'test');

describe('offsets', () => {
  it('are fixed-width, sort in stream order and avoid reserved characters', () => {
    expect(formatOffset(0)).toBe(STREAM_START_OFFSET);
    const offsets = [0, 1, 9, 10, 99, 100, 12345, 2 ** 53 - 1].map(formatOffset);
    expect([...offsets].sort()).toEqual(offsets);
    for (const o of offsets) {
      expect(o).toMatch(/^\d{16}_\d{16}$/);
      expect(o).not.toMatch(/[,&=?/]/);
      expect(parseOffset(source, 'o', o)).toBe(Number(o.slice(17)));
    }
    expect(parseOffset(source, 'o', '-1')).toBe(0);
  });
  it('reject anything else with INVALID_ARGUMENT', () => {
    for (const bad of ['', 'now', '0', '1_1', '0000000000000001_0000000000000000', 'abc', '0000000000000000_00000000000000001', 1, null]) {
      expect(() => parseOffset(source, 'o', bad)).toThrowError(StowageError);
    }
  });
});

describe('checkProducer follows the contract order', () => {
  const id = 'p';
  it('accepts a new producer at seq 0 and nothing else', () => {
    expect(checkProducer(undefined, { id, epoch: 0, seq: 0 }, false)).toEqual({ kind: 'accept', next: { epoch: 0, seq: 0 } });
    expect(checkProducer(undefined, { id, epoch: 3, seq: 1 }, false)).toMatchObject({
      kind: 'reject',
      code: 'CONFLICT',
      details: { expectedSeq: 0, receivedSeq: 1 },
    });
  });
  it('fences a stale epoch before anything else, even on a closed stream', () => {
    expect(checkProducer({ epoch: 2, seq: 5 }, { id, epoch: 1, seq: 9 }, true)).toMatchObject({
      kind: 'reject',
      code: 'FENCED',
      details: { currentEpoch: 2 },
    });
  });
  it('reports duplicates before the closed check', () => {
    expect(checkProducer({ epoch: 1, seq: 5 }, { id, epoch: 1, seq: 5 }, true)).toEqual({ kind: 'duplicate', state: { epoch: 1, seq: 5 } });
    expect(checkProducer({ epoch: 1, seq: 5 }, { id, epoch: 1, seq: 0 }, false).kind).toBe('duplicate');
    expect(checkProducer({ epoch: 1, seq: 5 }, { id, epoch: 1, seq: 6 }, true)).toMatchObject({
      code: 'CONFLICT',
      details: { closed: true },
    });
  });
  it('requires seq 0 in a new epoch, and no gaps', () => {
    expect(checkProducer({ epoch: 1, seq: 5 }, { id, epoch: 2, seq: 1 }, false)).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(checkProducer({ epoch: 1, seq: 5 }, { id, epoch: 2, seq: 0 }, false)).toEqual({ kind: 'accept', next: { epoch: 2, seq: 0 } });
    expect(checkProducer({ epoch: 1, seq: 5 }, { id, epoch: 1, seq: 7 }, false)).toMatchObject({
      code: 'CONFLICT',
      details: { expectedSeq: 6, receivedSeq: 7 },
    });
    expect(checkProducer({ epoch: 1, seq: 5 }, { id, epoch: 1, seq: 6 }, false)).toEqual({ kind: 'accept', next: { epoch: 1, seq: 6 } });
  });
});

describe('helpers', () => {
  it('compareUtf8 orders by UTF-8 bytes, not UTF-16 units', () => {
    // U+FF5E sorts before U+1F600 in UTF-16 units reversed: UTF-8 bytes EF.. < F0..
    expect(compareUtf8('\uff5e', '\u{1f600}')).toBeLessThan(0);
    expect('\uff5e' < '\u{1f600}').toBe(false);
    expect(compareUtf8('B', 'a')).toBeLessThan(0);
    expect(compareUtf8('a', 'a')).toBe(0);
  });
  it('normalizeContentType keeps the media type only', () => {
    expect(normalizeContentType(' Application/JSON; charset=utf-8')).toBe('application/json');
    expect(normalizeContentType('text/plain')).toBe('text/plain');
  });
});
