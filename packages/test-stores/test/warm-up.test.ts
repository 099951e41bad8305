import { expect, it } from 'vitest';
import { isTimeoutOrUnavailable, warmUpWithRetries } from '../src/index.js';

const failing = (codes: string[]) => {
  let calls = 0;
  const work = async () => {
    const code = codes[calls++];
    if (code !== undefined) throw Object.assign(new Error(code), { code });
    return calls;
  };
  return { work, calls: () => calls };
};

it('tries again while the failure is the machine being slow, and returns the first success', async () => {
  const w = failing(['TIMEOUT', 'UNAVAILABLE']);
  expect(await warmUpWithRetries(w.work, isTimeoutOrUnavailable, { pauseMs: 1 })).toBe(3);
  expect(w.calls()).toBe(3);
});

it('throws any other failure at once, and the last slow one after the attempts', async () => {
  const other = failing(['TIMEOUT', 'INVALID_ARGUMENT']);
  await expect(warmUpWithRetries(other.work, isTimeoutOrUnavailable, { pauseMs: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  expect(other.calls()).toBe(2);
  const slow = failing(['TIMEOUT', 'TIMEOUT', 'TIMEOUT', 'TIMEOUT']);
  await expect(warmUpWithRetries(slow.work, isTimeoutOrUnavailable, { attempts: 3, pauseMs: 1 })).rejects.toMatchObject({
    code: 'TIMEOUT',
  });
  expect(slow.calls()).toBe(3);
});
