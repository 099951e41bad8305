import type { WakeNotice } from '../contracts/subscription.js';
import { type ErrorSource, StowageError } from '../errors.js';

/**
 * `noteAppend`'s failure when some subscriptions could not be updated: each of the others was,
 * and the wakes started for them must still be announced, so they ride along in
 * `details.started` (see the contract).
 */
export function partialFailure(
  source: ErrorSource,
  path: string,
  of: number,
  failed: readonly unknown[],
  started: readonly WakeNotice[],
): StowageError {
  const first = StowageError.from(failed[0]);
  return source.error(
    first.code,
    `${failed.length} of ${of} subscriptions of ${JSON.stringify(path.slice(0, 128))} could not be updated (the first: ${first.message}); ` +
      `the ${started.length} wake(s) started for the others are in details.started`,
    { cause: first, details: { started, failed: failed.length } },
  );
}
