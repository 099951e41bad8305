import { vi } from 'vitest';

/**
 * Makes this process's clocks run `shift(real)` ms off the real time until `mockRestore()`:
 * the wall clock (`Date.now()`) and the monotonic one (`performance.now()`, which the stores
 * keep the server's time on), so a constant `+5000` is a server clock 5 s behind ours and a
 * step is a server clock stepping the other way. With `wallOnly`, only `Date.now()` moves: a
 * step of our wall clock (NTP, a VM resumed). Timers are unaffected (they read neither).
 */
export function shiftOurClock(shift: (real: number) => number, wallOnly = false): { mockRestore(): void } {
  const realNow = Date.now;
  const realPerf = performance.now.bind(performance);
  const wall = vi.spyOn(Date, 'now').mockImplementation(() => {
    const now = realNow();
    return now + shift(now);
  });
  const steady = wallOnly ? undefined : vi.spyOn(performance, 'now').mockImplementation(() => realPerf() + shift(realNow()));
  return {
    mockRestore() {
      wall.mockRestore();
      steady?.mockRestore();
    },
  };
}
