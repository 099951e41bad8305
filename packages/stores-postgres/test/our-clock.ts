import { vi, type MockInstance } from 'vitest';

/**
 * Makes this process's clock (`Date.now()`, which the stores read) run `shift(real)` ms off
 * the real time until `mockRestore()`; timers are unaffected (they do not read `Date.now`).
 * A constant `+5000` is a server clock 5 s behind ours; a step makes our clock jump.
 */
export function shiftOurClock(shift: (real: number) => number): MockInstance<() => number> {
  const real = Date.now;
  return vi.spyOn(Date, 'now').mockImplementation(() => {
    const now = real();
    return now + shift(now);
  });
}
