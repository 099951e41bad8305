import type { BackgroundErrorHandler } from './contracts/common.js';
import type { ErrorSource } from './errors.js';

/** Reports one failure of background work; never throws. */
export type BackgroundReport = (err: unknown, operation: string) => void;

/**
 * The reporter of a store's background work (see {@link BackgroundErrorHandler}): the
 * option's handler (validated here: a function or undefined, else `INVALID_ARGUMENT`), or the
 * default line. The line names the store, the operation, the code and the message: store
 * messages describe the backend's failure, never the keys or values of records.
 */
export function backgroundReporter(source: ErrorSource, name: string, handler: unknown): BackgroundReport {
  if (handler !== undefined && typeof handler !== 'function') throw source.invalid(`${name} must be a function`);
  const store = source.label;
  const log = (err: unknown, operation: string, note = ''): void => {
    const e = source.wrap(err);
    // The store's messages start with its label, which the line already names.
    const message = e.message.startsWith(`${store}: `) ? e.message.slice(store.length + 2) : e.message;
    console.error(`${store}: background ${operation} failed${note}: ${e.code}: ${message}`);
  };
  if (handler === undefined) return log;
  const onError = handler as BackgroundErrorHandler;
  return (err, operation) => {
    const error = source.wrap(err);
    try {
      onError(error, { operation, store });
    } catch (thrown) {
      // The handler's own failure must not become an unhandled rejection in a timer.
      log(error, operation, ` (and onError threw: ${thrown instanceof Error ? thrown.message : String(thrown)})`);
    }
  };
}
