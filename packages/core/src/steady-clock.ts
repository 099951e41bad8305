/**
 * Epoch ms on a clock that never steps: the wall clock at process start carried forward on the
 * monotonic clock. `Date.now()` may step (NTP, a VM resumed); what must not move with it (the
 * end of a call's budget as sent to a server, a server's clock offset) is kept on this one.
 */
export const steadyNow = (): number => performance.timeOrigin + performance.now();
