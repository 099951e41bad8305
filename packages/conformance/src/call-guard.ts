// Reports an adapter's calling-convention faults by name, instead of as a look-alike of the
// error a test expects: every contract method must return a Promise (rejecting, never throwing),
// and close() must settle.
import { settleWithin } from '@stowage/core/adapter-kit';
import type { ConformanceOptions } from './context.js';

/** The methods of each contract (and `close`, `prune`), by the option that makes its stores. */
const CONTRACTS: Record<string, { name: string; methods: readonly string[] }> = {
  sessions: { name: 'SessionStore', methods: ['get', 'set', 'touch', 'destroy', 'rotate', 'destroyByOwner'] },
  rateLimits: { name: 'RateLimitStore', methods: ['consume', 'peek', 'reset'] },
  idempotency: { name: 'IdempotencyStore', methods: ['reserve', 'complete', 'release', 'extend'] },
  csrf: { name: 'CsrfTokenStore', methods: ['issue', 'validate', 'revoke'] },
  locks: { name: 'LockStore', methods: ['acquire', 'extend', 'release'] },
  jwks: { name: 'JwksCacheStore', methods: ['get', 'put'] },
  streams: { name: 'StreamStore', methods: ['create', 'append', 'read', 'head', 'closeStream', 'delete', 'wait', 'cleanupExpired'] },
  subscriptions: {
    name: 'SubscriptionStore',
    methods: [
      'put',
      'get',
      'delete',
      'addStreams',
      'removeStream',
      'noteAppend',
      'noteDelete',
      'claim',
      'ack',
      'release',
      'reportDelivery',
      'takeDue',
      'signingKeys',
      'putSigningKeys',
    ],
  },
};
const EVERY_STORE = ['prune', 'close'];

/** How long `close()` may take before the suite reports it as hung. */
export const CLOSE_LIMIT_MS = 5000;

/** The contract a factory of `options` makes (`SessionStore`, ...), or `store` if unknown. */
export function contractOf(factory: unknown, options: ConformanceOptions): { name: string; methods: ReadonlySet<string> } {
  for (const [key, contract] of Object.entries(CONTRACTS)) {
    if ((options as unknown as Record<string, unknown>)[key] === factory) {
      return { name: contract.name, methods: new Set([...contract.methods, ...EVERY_STORE]) };
    }
  }
  return { name: 'store', methods: new Set(EVERY_STORE) };
}

/** An error that says which rule of calling the adapter broke. */
export class CallingConventionError extends Error {
  override readonly name = 'CallingConventionError';
}

/**
 * `store` as the tests see it: each contract method that throws instead of returning a rejected
 * Promise, or returns no Promise at all, fails with a message that names the method and the rule.
 */
export function guarded<T extends object>(store: T, contract: { name: string; methods: ReadonlySet<string> }): T {
  return new Proxy(store, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (typeof key !== 'string' || typeof value !== 'function' || !contract.methods.has(key)) {
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return (...args: unknown[]) => {
        let result: unknown;
        try {
          result = value.apply(target, args);
        } catch (err) {
          throw new CallingConventionError(
            `${contract.name}.${key}() threw synchronously; every method must return a Promise and reject instead ` +
              `(it threw: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)})`,
            { cause: err },
          );
        }
        if (typeof (result as { then?: unknown } | null)?.then !== 'function') {
          throw new CallingConventionError(`${contract.name}.${key}() returned ${describe(result)}, not a Promise`);
        }
        return result;
      };
    },
  });
}

/** Closes `store`, reporting by name a close that never settles. */
export function closeWithin(store: { close(): Promise<void> }, contractName: string): Promise<void> {
  return settleWithin(
    Promise.resolve().then(() => store.close()),
    CLOSE_LIMIT_MS,
    () => new CallingConventionError(`${contractName}.close() did not settle within ${CLOSE_LIMIT_MS} ms`),
  );
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  return typeof value === 'object' ? `an object without then()` : `a ${typeof value}`;
}
