import { describe, expect, it } from 'vitest';
import { RefundableHits } from '../src/refundable-hits.js';

describe('RefundableHits (pure logic; times in ms)', () => {
  it('gives back at most the hits of the open window, each with that window end as deadline', () => {
    const r = new RefundableHits(1000);
    r.add('k', 999, 10);
    r.add('k', 1000, 20); // a closer estimate of the same end: the latest is kept
    r.add('k', 998, 30);
    expect(r.take('k', 998)).toBe(1000);
    expect(r.take('k', 999)).toBe(1000);
    expect(r.take('k', 999)).toBe(1000);
    expect(r.take('k', 999)).toBeUndefined();
  });

  it('a hit whose window may already be over is not refundable; an ended window gives nothing back', () => {
    const r = new RefundableHits(1000);
    r.add('k', 100, 100);
    expect(r.take('k', 100)).toBeUndefined();
    r.add('k', 1000, 500);
    expect(r.take('k', 1000)).toBeUndefined();
    // A hit of the previous window answered late is not added to the open window's hits.
    r.add('k', 3000, 2100);
    r.add('k', 2000, 2100);
    expect(r.take('k', 2200)).toBe(3000);
    expect(r.take('k', 2200)).toBeUndefined();
  });

  it('a hit answered after the window ended opens a new window: old hits are dropped, never carried over', () => {
    const r = new RefundableHits(1000);
    r.add('k', 1000, 10);
    r.add('k', 1000, 20);
    r.add('k', 2000, 1001);
    expect(r.take('k', 1002)).toBe(2000);
    expect(r.take('k', 1003)).toBeUndefined();
  });

  it('delete forgets a key; ended windows are swept at most once per window', () => {
    const r = new RefundableHits(1000);
    r.add('a', 1000, 10);
    r.add('b', 1000, 10);
    r.delete('a');
    expect(r.take('a', 20)).toBeUndefined();
    for (let i = 0; i < 100; i++) r.add(`x${i}`, 1000, 30);
    expect(r.size).toBe(101);
    r.add('c', 3000, 2500); // past the sweep time: every ended entry goes
    expect(r.size).toBe(1);
  });
});
