/**
 * The worker side of multi-process race tests: a child process that builds its stores on
 * the shared backend, waits for `go` (so every worker starts together), runs one task, sends
 * `{ result }` and exits. Adapters' multi-process tests fork one fixture per worker and sum
 * the results (exactly N admitted, exactly one reserved...).
 *
 * @module
 */
import type { CsrfTokenStore, IdempotencyStore, RateLimitPolicy, RateLimitStore } from '@stowage/core';

export interface Settled<T> {
  values: T[];
  /** `<code> <message>` of each rejection. */
  errors: string[];
}

/** Runs `fn` `n` times at once and sorts the outcomes. */
export async function settle<T>(n: number, fn: (i: number) => Promise<T>): Promise<Settled<T>> {
  const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => fn(i)));
  const values: T[] = [];
  const errors: string[] = [];
  for (const r of results) {
    if (r.status === 'fulfilled') values.push(r.value);
    else {
      const reason = r.reason as { code?: string; message?: string } | undefined;
      errors.push(`${reason?.code ?? ''} ${reason?.message ?? String(r.reason)}`);
    }
  }
  return { values, errors };
}

export interface RaceWorkerOptions {
  rateLimits: () => RateLimitStore;
  idempotency: () => IdempotencyStore;
  csrf: () => CsrfTokenStore;
  /** The policy of the `consume` task (250 calls per worker). @default fixed window, 100 per hour */
  consumePolicy?: RateLimitPolicy;
  /** Backend-specific tasks, besides `consume`, `reserve` and `csrf`. */
  tasks?: Record<string, (extra: string | undefined) => Promise<unknown>>;
  /** Ends the worker's connection (after the result is sent). */
  close: () => Promise<unknown> | unknown;
}

/**
 * Serves one task to the parent: `process.argv` gives the task name and its extra argument
 * (e.g. the CSRF token), positions `taskIndex` and `taskIndex + 1`.
 */
export function runRaceWorker(task: string, extra: string | undefined, o: RaceWorkerOptions): void {
  const policy = o.consumePolicy ?? { algorithm: 'fixed-window', limit: 100, windowMs: 3_600_000 };
  const tasks: Record<string, (extra: string | undefined) => Promise<unknown>> = {
    async consume() {
      const store = o.rateLimits();
      const { values, errors } = await settle(250, () => store.consume('shared-key', policy));
      return { allowed: values.filter((d) => d.allowed).length, errors };
    },
    async reserve() {
      const store = o.idempotency();
      const { values, errors } = await settle(50, () => store.reserve('tenant', 'order-1', 'fp', { leaseMs: 60_000 }));
      return {
        reserved: values.filter((r) => r.state === 'reserved').length,
        inFlight: values.filter((r) => r.state === 'in-flight').length,
        errors,
      };
    },
    async csrf(token) {
      const store = o.csrf();
      const { values, errors } = await settle(10, () => store.validate('session-1', String(token), { consume: true }));
      return { valid: values.filter(Boolean).length, errors };
    },
    ...o.tasks,
  };
  const run = tasks[task];
  if (run === undefined) throw new Error(`unknown task ${task}; known: ${Object.keys(tasks).join(', ')}`);
  process.on('message', (m) => {
    if (m !== 'go') return;
    void run(extra).then((result) => {
      process.send!({ result }, () => {
        void Promise.resolve(o.close()).finally(() => process.exit(0));
      });
    });
  });
  process.send!({ ready: true });
}
