import { MAX_TIMESTAMP_MS, type CallOptions, type Closeable, type StowageErrorCode } from '@stowage/core';
import { CALL_OPTION_NAMES, type StoreCall } from '@stowage/core/adapter-kit';
import { describe, expect, it } from 'vitest';
import type { TestClock } from './clock.js';
import { opener, type ConformanceOptions, type Opened, type StoreFactory } from './context.js';

/** One contract method that takes the caller's deadline. */
export interface DeadlineCase<T, S> {
  /** The method's name; every failure names it, and it is the key prefix of its records. */
  method: string;
  /** Calls the method on the records of `k` with `opts` (`{}` or `{ deadline }`) as its deadline options. */
  call(store: T, k: string, opts: CallOptions, state: S): Promise<unknown>;
  /** The same call with another argument malformed (validation comes before the deadline). */
  badArgs(store: T, k: string, opts: CallOptions, state: S): Promise<unknown>;
  /** The method only reads: a call changes nothing the snapshot shows. @default false */
  reads?: boolean;
  /** The part of the result two stores must agree on (random tokens and ids left out). @default the result */
  view?(result: never): unknown;
}

/** The deadline cases of one contract, on records the table puts itself. */
export interface DeadlineTable<T, S> {
  /** Puts the records the calls of `k` change (names start with `k`) and returns what they need (tokens). */
  before(store: T, k: string, clock: TestClock): Promise<S>;
  /**
   * Everything a call of `k` could have changed, without random values. It runs last and may
   * change records or move the clock.
   */
  snapshot(store: T, k: string, state: S, clock: TestClock): Promise<unknown>;
  cases: readonly DeadlineCase<T, S>[];
  /** The contract's methods and the option names each takes (core's `STORE_CALLS.<contract>`). */
  calls: Readonly<Record<string, StoreCall>>;
}

const DAY = 86_400_000;

/** Deadlines already passed when the call starts: `deadline <= Date.now()` (0 also catches `if (deadline)`). */
const PASSED: readonly [string, () => number][] = [
  ['0', () => 0],
  ['Date.now() - 1', () => Date.now() - 1],
  ['Date.now()', () => Date.now()],
];

/** Deadlines that are not an integer epoch ms from 0 to MAX_TIMESTAMP_MS (no coercion, no rounding). */
const MALFORMED: readonly [string, () => unknown][] = [
  ['a string', () => 'soon'],
  ['a numeric string a minute ahead', () => String(Date.now() + 60_000)],
  ['fractional', () => 1.5],
  ['fractional, a minute ahead', () => Date.now() + 60_000.5],
  ['negative', () => -1],
  ['NaN', () => Number.NaN],
  ['Infinity', () => Number.POSITIVE_INFINITY],
  ['-Infinity', () => Number.NEGATIVE_INFINITY],
  ['null', () => null],
  ['past the latest timestamp', () => MAX_TIMESTAMP_MS + 1],
  ['a bigint a minute ahead', () => BigInt(Date.now() + 60_000)],
  ['a Date a minute ahead', () => new Date(Date.now() + 60_000)],
];

/** Option names no contract method takes: a deadline misspelt, and the store's own limit's name. */
const MISSPELT: readonly string[] = ['deadLine', 'Deadline', 'timeoutMs'];

/** A call's outcome, comparable with `toEqual`: its viewed value or its error as text. */
type Outcome = { value: unknown } | { error: string };

async function settle(call: () => Promise<unknown>, view: (result: never) => unknown = (r) => r): Promise<Outcome> {
  try {
    return { value: view((await call()) as never) };
  } catch (e) {
    const err = e as { name?: string; code?: string; message?: string };
    return { error: `${err?.name} ${err?.code}: ${err?.message ?? String(e)}` };
  }
}

async function expectRejects(what: string, call: () => Promise<unknown>, code: StowageErrorCode): Promise<void> {
  expect(await settle(call), what).toEqual({ error: expect.stringMatching(new RegExp(`^StowageError ${code}: `)) });
}

/**
 * The rule of core's `CallOptions` for every method of `table`: a passed deadline is TIMEOUT
 * and changes nothing; one far enough ahead is no deadline at all; a malformed one is
 * INVALID_ARGUMENT, and so is a malformed argument whatever the deadline. "Changes nothing"
 * compares with a twin: a store in another namespace that got the same records and no call.
 */
export function deadlineTests<T extends Closeable, S>(
  factory: StoreFactory<T>,
  options: ConformanceOptions,
  table: DeadlineTable<T, S>,
): void {
  const open = opener(factory, options);
  /** `n` stores in fresh namespaces whose clocks all read `at`. */
  async function twins(n: number, at: number): Promise<Opened<T>[]> {
    const list = await Promise.all(Array.from({ length: n }, () => open()));
    for (const o of list) o.clock.set(at);
    return list;
  }
  const prepare = (o: Opened<T>, k: string) => table.before(o.store, k, o.clock);
  const snapshot = (o: Opened<T>, k: string, state: S) => table.snapshot(o.store, k, state, o.clock);

  describe('the caller deadline (opts.deadline)', () => {
    it('a deadline already passed (0, Date.now() - 1, Date.now()) is TIMEOUT and changes nothing', async () => {
      // The store clock runs a day behind Date.now(): a store that compared the deadline with
      // its own clock would take these deadlines for ones still ahead.
      const [called, untouched] = await twins(2, Date.now() - DAY);
      for (const c of table.cases) {
        const k = c.method;
        const [state, twin] = [await prepare(called!, k), await prepare(untouched!, k)];
        for (const [label, deadline] of PASSED) {
          await expectRejects(`${k} with deadline ${label}`, () => c.call(called!.store, k, { deadline: deadline() }, state), 'TIMEOUT');
        }
        expect(await snapshot(called!, k, state), `${k}: the state after calls refused for their deadline`).toEqual(
          await snapshot(untouched!, k, twin),
        );
      }
    });

    it('a deadline a minute ahead, or the latest timestamp, behaves exactly as no deadline', async () => {
      // The store clock runs a day ahead of Date.now(): a store that compared the deadline with
      // its own clock would take these deadlines for passed ones.
      const [none, minute, latest, untouched] = await twins(4, Date.now() + DAY);
      for (const c of table.cases) {
        const k = c.method;
        const states = [await prepare(none!, k), await prepare(minute!, k), await prepare(latest!, k), await prepare(untouched!, k)];
        const want = await settle(() => c.call(none!.store, k, {}, states[0]!), c.view);
        expect(want, `${k} without a deadline (the table's call must succeed)`).not.toHaveProperty('error');
        const soon = await settle(() => c.call(minute!.store, k, { deadline: Date.now() + 60_000 }, states[1]!), c.view);
        expect(soon, `${k} with a deadline a minute ahead`).toEqual(want);
        const last = await settle(() => c.call(latest!.store, k, { deadline: MAX_TIMESTAMP_MS }, states[2]!), c.view);
        expect(last, `${k} with deadline MAX_TIMESTAMP_MS`).toEqual(want);
        const [after, afterMinute, afterLatest, unchanged] = [
          await snapshot(none!, k, states[0]!),
          await snapshot(minute!, k, states[1]!),
          await snapshot(latest!, k, states[2]!),
          await snapshot(untouched!, k, states[3]!),
        ];
        expect(afterMinute, `${k}: the state after a call with a deadline a minute ahead`).toEqual(after);
        expect(afterLatest, `${k}: the state after a call with deadline MAX_TIMESTAMP_MS`).toEqual(after);
        // Guards the table itself: the other two tests can only fail if the call changes what the snapshot reads.
        if (!c.reads) expect(after, `${k}: the call without a deadline changed nothing the table reads back`).not.toEqual(unchanged);
      }
    });

    it('an option no store call takes (a misspelt deadline) is INVALID_ARGUMENT and changes nothing', async () => {
      const [called, untouched] = await twins(2, Date.now());
      for (const c of table.cases) {
        const k = c.method;
        const [state, twin] = [await prepare(called!, k), await prepare(untouched!, k)];
        for (const name of MISSPELT) {
          const opts = { [name]: Date.now() - 1 } as CallOptions;
          await expectRejects(`${k} with opts.${name}`, () => c.call(called!.store, k, opts, state), 'INVALID_ARGUMENT');
        }
        expect(await snapshot(called!, k, state), `${k}: the state after calls refused for an unknown option`).toEqual(
          await snapshot(untouched!, k, twin),
        );
      }
    });

    it('an option only another method takes (ttlMs to get, cost to peek) is INVALID_ARGUMENT and changes nothing', async () => {
      expect(table.cases.map((c) => c.method).sort(), 'a case for every method that takes options').toEqual(
        Object.keys(table.calls).sort(),
      );
      const [called, untouched] = await twins(2, Date.now());
      for (const c of table.cases) {
        const k = c.method;
        const own = table.calls[k]!.names;
        const foreign = [...CALL_OPTION_NAMES].filter((name) => !own.has(name));
        expect(foreign.length, `${k}: option names it does not take`).toBeGreaterThan(0);
        const [state, twin] = [await prepare(called!, k), await prepare(untouched!, k)];
        for (const name of foreign) {
          const opts = { [name]: 1000 } as CallOptions;
          await expectRejects(`${k} with opts.${name}`, () => c.call(called!.store, k, opts, state), 'INVALID_ARGUMENT');
        }
        expect(await snapshot(called!, k, state), `${k}: the state after calls refused for another method's option`).toEqual(
          await snapshot(untouched!, k, twin),
        );
      }
    });

    it('a malformed deadline is INVALID_ARGUMENT, a malformed argument with a passed deadline too; nothing changes', async () => {
      const [called, untouched] = await twins(2, Date.now());
      for (const c of table.cases) {
        const k = c.method;
        const [state, twin] = [await prepare(called!, k), await prepare(untouched!, k)];
        for (const [label, deadline] of MALFORMED) {
          const opts = { deadline: deadline() as number };
          await expectRejects(`${k} with deadline ${label}`, () => c.call(called!.store, k, opts, state), 'INVALID_ARGUMENT');
        }
        const passed = { deadline: Date.now() - 1 };
        await expectRejects(
          `${k} with a malformed argument and a passed deadline`,
          () => c.badArgs(called!.store, k, passed, state),
          'INVALID_ARGUMENT',
        );
        expect(await snapshot(called!, k, state), `${k}: the state after calls refused as malformed`).toEqual(
          await snapshot(untouched!, k, twin),
        );
      }
    });
  });
}
