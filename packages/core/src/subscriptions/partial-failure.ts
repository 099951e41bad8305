import type { WakeNotice } from '../contracts/subscription.js';
import { type ErrorSource, StowageError } from '../errors.js';

/**
 * The failure of a call over many subscriptions (`noteAppend`, `takeDue`) when some could not
 * be updated: each of the others was, and the wakes started for them must still be announced,
 * so they ride along in `details.started` (see the contract); `details.failedIds` names the
 * subscriptions that failed (the first 20).
 */
export function partialFailure(
  source: ErrorSource,
  what: string,
  of: number,
  failed: readonly { id: string; err: unknown }[],
  started: readonly WakeNotice[],
): StowageError {
  const first = StowageError.from(failed[0]!.err);
  const ids = failed.slice(0, 20).map((f) => f.id);
  return source.error(
    first.code,
    `${what}: ${failed.length} of ${of} subscriptions could not be updated (the first, ${JSON.stringify(ids[0]!.slice(0, 128))}: ` +
      `${first.message}); the ${started.length} wake(s) started for the others are in details.started`,
    { cause: first, details: { started, failed: failed.length, failedIds: ids } },
  );
}
