// Finds an adapter that shares objects with its callers: one that hands out its own records
// (so a caller's change to an answer changes what is stored) or keeps the caller's arguments
// (so a change after the call resolved reaches the store). Every change a caller could make to
// an object is enumerated, one at a time, so a failure names the field that leaked.
import { inspect } from 'node:util';
import { expect } from 'vitest';

/** One change a caller could make to an object it holds, after the call that gave or took it. */
export interface Mutation {
  /** The field as messages name it: `lease.token`, `response.headers[0][1]`, `opts.ttlMs`. */
  field: string;
  /** What the caller did, completing "the caller then ...": `set lease.token to 'x-changed'`. */
  change: string;
  /** Makes the same change to the same field of another object of that shape (a later answer). */
  apply(root: unknown): void;
}

type Step = string | number;

const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !isBytes(v) && !Array.isArray(v);

/** `lease.token`, `response.headers[0][1]`. */
function fieldName(name: string, path: readonly Step[]): string {
  let out = name;
  for (const step of path) out += typeof step === 'number' ? `[${step}]` : out === '' ? step : `.${step}`;
  return out;
}

/** The object at `path` under `root` (undefined when the shape differs). */
function at(root: unknown, path: readonly Step[]): unknown {
  let v = root;
  for (const step of path) v = v === null || typeof v !== 'object' ? undefined : (v as Record<Step, unknown>)[step];
  return v;
}

/**
 * Every change a caller could make to `value`, deeply: each string, number and boolean field set
 * to another value, each object field deleted, each byte array's bytes inverted, each array
 * appended to and emptied. Changes go through `Reflect`, so a frozen answer (which no caller
 * can change either) is left as it is rather than failing the test.
 */
export function mutationsOf(value: unknown, name: string): Mutation[] {
  const out: Mutation[] = [];
  const walk = (v: unknown, path: Step[]): void => {
    const field = fieldName(name, path);
    const parentPath = path.slice(0, -1);
    const key = path[path.length - 1];
    const set = (to: unknown) => (root: unknown) => {
      const parent = at(root, parentPath);
      if (key !== undefined && parent !== null && typeof parent === 'object') Reflect.set(parent, key, to);
    };
    if (typeof v === 'string') {
      out.push({ field, change: `set ${field} to ${show(`${v}-changed`)}`, apply: set(`${v}-changed`) });
    } else if (typeof v === 'number') {
      if (v !== 0) out.push({ field, change: `set ${field} to 0`, apply: set(0) });
      out.push({ field, change: `set ${field} to ${v + 86_400_000}`, apply: set(v + 86_400_000) });
    } else if (typeof v === 'boolean') {
      out.push({ field, change: `set ${field} to ${!v}`, apply: set(!v) });
    } else if (isBytes(v)) {
      if (v.byteLength === 0) return;
      const invert = (root: unknown) => {
        const bytes = at(root, path);
        if (isBytes(bytes)) for (let i = 0; i < bytes.length; i++) bytes[i] = bytes[i]! ^ 0xff;
      };
      out.push({ field, change: `inverted every byte of ${field}`, apply: invert });
    } else if (Array.isArray(v)) {
      for (const [i, item] of v.entries()) walk(item, [...path, i]);
      const array = (root: unknown) => {
        const a = at(root, path);
        return Array.isArray(a) && !Object.isFrozen(a) ? a : undefined;
      };
      out.push({
        field,
        change: `appended a copy of its last element to ${field}`,
        apply: (root) => {
          const a = array(root);
          if (a !== undefined && a.length > 0) a.push(structuredClone(a[a.length - 1]));
        },
      });
      out.push({
        field,
        change: `emptied ${field}`,
        apply: (root) => {
          const a = array(root);
          if (a !== undefined) a.length = 0;
        },
      });
    } else if (isRecord(v)) {
      for (const k of Object.keys(v)) {
        walk(v[k], [...path, k]);
        const child = fieldName(name, [...path, k]);
        out.push({
          field: child,
          change: `deleted ${child}`,
          apply: (root) => {
            const parent = at(root, path);
            if (parent !== null && typeof parent === 'object') Reflect.deleteProperty(parent, k);
          },
        });
      }
    }
  };
  walk(value, []);
  return out;
}

/** The changes to each argument of a call, named by the argument (`data`, `opts.ttlMs`). */
export function argumentMutations(args: Record<string, unknown>): Mutation[] {
  return Object.entries(args).flatMap(([name, value]) =>
    mutationsOf(value, name).map((m) => ({ ...m, apply: (root: unknown) => m.apply((root as Record<string, unknown>)[name]) })),
  );
}

/** A value as messages print it: one line, strings quoted, long bytes and strings cut. */
export function show(value: unknown): string {
  return inspect(value, { depth: 4, breakLength: Number.POSITIVE_INFINITY, maxArrayLength: 8, maxStringLength: 48 });
}

/** `SessionStore.get('s', { deadline: 1767225600000 })`. */
export function callText(contract: string, method: string, ...args: unknown[]): string {
  return `${contract}.${method}(${args.map(show).join(', ')})`;
}

/**
 * A deep copy of what an answer holds, bytes as hex: compared after the caller's change, so the
 * baseline cannot be the store's own object that the change reached too.
 */
export function plain(value: unknown): unknown {
  if (isBytes(value)) return `bytes ${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`;
  if (Array.isArray(value)) return value.map(plain);
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

/** What a call answered, or the code it rejected with, as plain data. */
export async function outcome(call: () => Promise<unknown>): Promise<unknown> {
  try {
    return { answer: plain(await call()) };
  } catch (err) {
    return { rejected: (err as { code?: unknown })?.code ?? String(err) };
  }
}

/** An `opts.deadline` that stays in the future for the whole test. */
export const later = (): number => Date.now() + 600_000;

export interface AnswerCase<T> {
  /** The call as messages name it, arguments included: `SessionStore.get('s')`. */
  call: string;
  /** What the answer is called in the contract: `record`, `lease`, `reservation`. */
  name: string;
  /** Makes the call (again for each change): a fresh answer each time. */
  make: (i: number) => Promise<T>;
  /** The calls that read what is stored, as messages name them. */
  observed: string;
  /** Reads what is stored (for the answer made with index `i`); must not change it. */
  observe: (i: number) => Promise<unknown>;
}

/**
 * For each change a caller could make to what `make` answers: makes the call, reads what is
 * stored, changes that field of the answer, and expects the same read to answer as before.
 * Returns the number of changes tried (at least one, or the case tests nothing).
 */
export async function expectAnswerUnshared<T>(c: AnswerCase<T>): Promise<number> {
  const sample = await c.make(0);
  const mutations = mutationsOf(sample, c.name);
  expect(mutations.length, `${c.call} answered ${show(sample)}: no field a caller could change`).toBeGreaterThan(0);
  for (const [index, m] of mutations.entries()) {
    const i = index + 1;
    const answer = await c.make(i);
    const before = await outcome(() => c.observe(i));
    expect(before, `${c.observed} after ${c.call}`).toHaveProperty('answer');
    m.apply(answer);
    const after = await outcome(() => c.observe(i));
    expect(after, `${c.call} resolved; the caller then ${m.change}; then ${c.observed} answered otherwise`).toEqual(before);
  }
  return mutations.length;
}

export interface ArgumentCase {
  /** The call as messages name it, with `i` the index of the change (names may differ by it). */
  call: (args: Record<string, unknown>, i: number) => string;
  /** Fresh arguments for each call, by name. */
  args: () => Record<string, unknown>;
  /** Makes the call with `args`; resolves once the store has answered. */
  make: (args: Record<string, unknown>, i: number) => Promise<unknown>;
  observed: (i: number) => string;
  /** Reads what is stored (after the call with index `i`); must not change it. */
  observe: (i: number) => Promise<unknown>;
}

/**
 * For each change a caller could make to the arguments of `make` (every field of every object
 * argument, deeply): makes the call, reads what is stored, changes that field of the argument
 * the store was given, and expects the same read to answer as before. Returns the number of
 * changes tried.
 */
export async function expectArgumentsUnshared(c: ArgumentCase): Promise<number> {
  const mutations = argumentMutations(c.args());
  expect(mutations.length, `${c.call(c.args(), 0)}: no argument field a caller could change`).toBeGreaterThan(0);
  for (const [index, m] of mutations.entries()) {
    const i = index + 1;
    const args = c.args();
    const call = c.call(args, i);
    await c.make(args, i);
    const before = await outcome(() => c.observe(i));
    expect(before, `${c.observed(i)} after ${call}`).toHaveProperty('answer');
    m.apply(args);
    const after = await outcome(() => c.observe(i));
    expect(after, `${call} resolved; the caller then ${m.change}; then ${c.observed(i)} answered otherwise`).toEqual(before);
  }
  return mutations.length;
}
