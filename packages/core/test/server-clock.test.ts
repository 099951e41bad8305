import { afterEach, describe, expect, it, vi } from 'vitest';
import { callBudget } from '../src/deadline.js';
import { ErrorSource } from '../src/errors.js';
import { ServerClock } from '../src/server-clock.js';
import { steadyNow } from '../src/steady-clock.js';

const source = new ErrorSource('@stowage/core', 'test');

describe('ServerClock: the end of a budget on the server clock', () => {
  afterEach(() => vi.restoreAllMocks());

  it('no step of our wall clock after the budget is made moves the deadline sent', async () => {
    // A server 5 s ahead of our steady clock, learnt from a refusal.
    const clock = new ServerClock(() => Promise.resolve(0));
    clock.learn(steadyNow() + 5000);
    const budget = callBudget(source, 100, undefined);
    const sent = clock.toServer(budget);
    expect(sent).toBeGreaterThanOrEqual(Math.floor(steadyNow() + 5000 + 100) - 2);
    expect(sent).toBeLessThanOrEqual(Math.floor(steadyNow() + 5000 + 100));
    // NTP steps Date.now() back 2 s, then forward 2 s, while the call waits to be sent.
    const real = Date.now;
    for (const step of [-2000, 2000]) {
      vi.spyOn(Date, 'now').mockImplementation(() => real() + step);
      expect(clock.toServer(budget)).toBe(sent);
      vi.restoreAllMocks();
    }
  });

  it('is due before the first sample and again a minute after it, on the steady clock', async () => {
    const clock = new ServerClock(() => Promise.resolve(0));
    expect(clock.isDue()).toBe(true);
    await clock.due(1000);
    expect(clock.isDue()).toBe(false);
    const real = Date.now;
    vi.spyOn(Date, 'now').mockImplementation(() => real() + 3_600_000); // a wall step alone
    expect(clock.isDue()).toBe(false);
    vi.restoreAllMocks();
    const realPerf = performance.now.bind(performance);
    vi.spyOn(performance, 'now').mockImplementation(() => realPerf() + 61_000);
    expect(clock.isDue()).toBe(true);
  });
});
