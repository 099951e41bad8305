/**
 * A clock the suite drives. It is a function (pass it as a store's `clock` option as is)
 * with methods to move time. It starts at a fixed, realistic epoch-millisecond value with a
 * non-round millisecond part, so exact-boundary tests are exact.
 */
export interface TestClock {
  (): number;
  /** The current reading. */
  now(): number;
  /** Moves time forward (or back, with a negative value) by `ms`. */
  advance(ms: number): number;
  /** Sets the reading. */
  set(ms: number): number;
}

/** 2027-01-15T08:00:00.123Z */
export const TEST_CLOCK_START = 1_800_000_000_123;

export function createTestClock(start = TEST_CLOCK_START): TestClock {
  let current = start;
  const clock = (() => current) as TestClock;
  clock.now = () => current;
  clock.advance = (ms: number) => {
    if (!Number.isInteger(ms)) throw new Error(`TestClock.advance needs an integer, got ${ms}`);
    current += ms;
    return current;
  };
  clock.set = (ms: number) => {
    if (!Number.isInteger(ms)) throw new Error(`TestClock.set needs an integer, got ${ms}`);
    current = ms;
    return current;
  };
  return clock;
}
