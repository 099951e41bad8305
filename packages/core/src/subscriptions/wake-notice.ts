import type { AckResult, WakeNotice } from '../contracts/subscription.js';
import { compareUtf8 } from '../streams/offsets.js';
import { anyPending, endWake, type SubscriptionDocument, startWake, toSubscription, toWake, type WakeTiming } from './state.js';

/** Starts a wake on `doc` (already decided due) and makes its notice. */
export function startNotice(doc: SubscriptionDocument, now: number, timing: WakeTiming, triggeredBy: string | undefined): WakeNotice {
  const { wake, token } = startWake(doc, now, timing);
  return {
    subscription: toSubscription(doc),
    wake: toWake(wake),
    ...(triggeredBy === undefined ? {} : { triggeredBy }),
    ...(token === undefined ? {} : { callbackToken: token }),
  };
}

/** Ends the wake; starts the next at once if work is still pending. */
export function finishWake(doc: SubscriptionDocument, now: number, timing: WakeTiming): AckResult {
  endWake(doc);
  if (!anyPending(doc)) return { ok: true };
  const first = Object.entries(doc.links).find(([, l]) => compareUtf8(l.tail, l.acked) > 0)?.[0];
  return { ok: true, next: startNotice(doc, now, timing, first) };
}
