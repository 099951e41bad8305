import { StowageError, type SessionStore } from '@stowage/core';

/** One call the adapter made: its method, store key, options, and how it ended. */
export interface StoreCall {
  method: string;
  id: string;
  opts: Record<string, any> | undefined;
  /** Every argument, as passed. */
  args: unknown[];
  /** `Date.now()` when the call was made. */
  at: number;
  /** `'ok'`, `'pending'`, or the error's code. */
  outcome: string;
  result?: unknown;
}

const OPTS_AT: Record<string, number> = { get: 1, set: 2, touch: 2, destroy: 1 };

/**
 * A real store whose calls are recorded (nothing is faked: every call goes to `inner`), so
 * tests count writes exactly and see the options each call carried. Two replicas' stores may
 * record into one `calls`.
 */
export function recording(inner: SessionStore, calls: StoreCall[] = []): { store: SessionStore; calls: StoreCall[] } {
  const store = new Proxy(inner, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (typeof value !== 'function') return value;
      const optsAt = typeof name === 'string' ? OPTS_AT[name] : undefined;
      if (optsAt === undefined) return value.bind(target);
      return async (...args: unknown[]) => {
        const call: StoreCall = {
          method: name as string,
          id: args[0] as string,
          opts: args[optsAt] as StoreCall['opts'],
          args,
          at: Date.now(),
          outcome: 'pending',
        };
        calls.push(call);
        try {
          call.result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          call.outcome = 'ok';
          return call.result;
        } catch (err) {
          call.outcome = StowageError.is(err) ? err.code : 'thrown';
          throw err;
        }
      };
    },
  });
  return { store, calls };
}

/** The calls of `method` (of `id`, when given). */
export const callsOf = (calls: StoreCall[], method: string, id?: string): StoreCall[] =>
  calls.filter((c) => c.method === method && (id === undefined || c.id === id));

/** The successful writes (`set`) of `id` (or of every id). */
export const writesOf = (calls: StoreCall[], id?: string): StoreCall[] => callsOf(calls, 'set', id).filter((c) => c.outcome === 'ok');

/** Which of the ids ever written still have a live record: the stored sessions, counted. */
export async function liveSessions(sessions: SessionStore, calls: StoreCall[]): Promise<string[]> {
  const live: string[] = [];
  for (const id of new Set(callsOf(calls, 'set').map((c) => c.id))) if ((await sessions.get(id)) !== undefined) live.push(id);
  return live;
}
