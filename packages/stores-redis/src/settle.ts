/**
 * A call's wait for its answer, in one promise, one timer and one pair of handlers: the
 * same rule as core's `settleWithin` (a value or error after the time is up is dropped),
 * with the store's retry and error mapping folded in, so that a call costs no promise of
 * ours beyond the one it returns (each `.catch` layer is a promise and a microtask per call).
 *
 * - `pending`: the client's answer.
 * - `ms`: the time left; then the call rejects with `timedOut()`.
 * - `retry(err)`: called with the first error only; another attempt's answer to wait for
 *   instead (within the same time), or `undefined` to fail with that error.
 * - `fail(err)`: the error the call rejects with (mapped).
 * - `lateAnswer(value)`: given a value that comes after the call timed out (the command ran).
 */
export function answerWithin<T>(
  pending: Promise<T>,
  ms: number,
  timedOut: () => unknown,
  retry: ((err: unknown) => Promise<T> | undefined) | undefined,
  fail: (err: unknown) => unknown,
  lateAnswer?: (value: T) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let late = false;
    let again = retry;
    const timer = setTimeout(() => {
      late = true;
      reject(timedOut());
    }, ms);
    timer.unref();
    const answered = (value: T) => {
      clearTimeout(timer);
      if (!late) resolve(value);
      else lateAnswer?.(value);
    };
    const failed = (err: unknown) => {
      if (late) return;
      if (again !== undefined) {
        const retrying = again;
        again = undefined;
        let next: Promise<T> | undefined;
        try {
          next = retrying(err);
        } catch (thrown) {
          err = thrown;
        }
        if (next !== undefined) {
          next.then(answered, failed);
          return;
        }
      }
      clearTimeout(timer);
      reject(fail(err));
    };
    pending.then(answered, failed);
  });
}
