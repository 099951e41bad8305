import { describe, expect, it } from 'vitest';
import { StowageError } from '../src/index.js';
import { ErrorSource, settleWithin } from '../src/adapter-kit.js';

describe('StowageError.from and ErrorSource.wrap: any thrown value as a StowageError', () => {
  const source = new ErrorSource('@stowage/x', 'XStore');
  it('keeps a StowageError as it is', () => {
    const e = new StowageError('CONFLICT', 'taken');
    expect(StowageError.from(e)).toBe(e);
    expect(source.wrap(e, 'UNAVAILABLE')).toBe(e);
  });
  it('wraps anything else with the code (INTERNAL by default), the message, and the cause', () => {
    const cause = new TypeError('boom');
    expect([StowageError.from(cause).code, StowageError.from(cause).message, StowageError.from(cause).cause]).toEqual([
      'INTERNAL',
      'boom',
      cause,
    ]);
    expect([source.wrap('text', 'UNAVAILABLE').code, source.wrap('text').message]).toEqual(['UNAVAILABLE', '@stowage/x XStore: text']);
  });
});

describe('settleWithin', () => {
  it('resolves with the value in time, and the timer is gone', async () => {
    expect(await settleWithin(Promise.resolve(7), 1000, () => new Error('late'))).toBe(7);
  });
  it("rejects with the timeout's error, hands a late value to onLate and drops a late error", async () => {
    const late: number[] = [];
    let answer!: (v: number) => void;
    const slow = new Promise<number>((r) => (answer = r));
    await expect(
      settleWithin(
        slow,
        20,
        () => new Error('late'),
        (v) => late.push(v),
      ),
    ).rejects.toThrow('late');
    answer(3);
    await slow;
    await Promise.resolve();
    expect(late).toEqual([3]);
    let fail!: (e: Error) => void;
    const failing = new Promise<number>((_, r) => (fail = r));
    await expect(settleWithin(failing, 10, () => new Error('late'))).rejects.toThrow('late');
    fail(new Error('after')); // dropped: no unhandled rejection
    await failing.catch(() => {});
  });
  it('passes an error in time through', async () => {
    await expect(settleWithin(Promise.reject(new Error('no')), 1000, () => new Error('late'))).rejects.toThrow('no');
  });
});
