import type { AckResult, Claim, Refused, Subscription, SubscriptionStore, WakeNotice } from '@stowage/core';
import type { TestClock } from '../../clock.js';
import { STORE_CALLS } from '@stowage/core/adapter-kit';
import type { DeadlineTable } from '../../deadline-rule.js';
import { byPath, claimProof, granted, off, only, pullWake, webhook } from './fixtures.js';
import { signingKey } from './signing-keys.js';

// The table of `deadlineTests` for SubscriptionStore. Each case's records are named after its
// method (`k`): `k` a webhook subscription with a wake being delivered, `k+pull` a pull-wake
// one whose wake `worker-1` claimed, `k+free` a pull-wake one whose wake nobody claimed yet.
// Views and snapshots leave out what is random (wake ids, tokens).

interface State {
  notice: WakeNotice;
  claim: Claim;
  clock: TestClock;
}

/** A subscription without its random wake id. */
function plain(sub: Subscription | undefined): unknown {
  if (sub === undefined) return undefined;
  const { wake, links, ...rest } = sub;
  return { ...rest, links: byPath(links), ...(wake === undefined ? {} : { wake: { ...wake, id: 'random' } }) };
}

const plainNotice = (n: WakeNotice) => ({ id: n.subscription.id, generation: n.wake.generation, triggeredBy: n.triggeredBy });

function plainAnswer(r: AckResult | Refused): unknown {
  return 'refused' in r ? r : { ok: r.ok, next: r.next === undefined ? undefined : plainNotice(r.next) };
}

const DAY = 86_400_000;

export const SUBSCRIPTION_DEADLINES: DeadlineTable<SubscriptionStore, State> = {
  calls: STORE_CALLS.subscription,
  async before(s, k, clock) {
    await s.put(k, webhook({ pattern: `${k}/p/*`, streams: [`${k}/a`, `${k}/b`] }));
    const notice = only(await s.noteAppend(`${k}/a`, off(2)));
    await s.put(`${k}+pull`, pullWake({ streams: [`${k}/j`] }));
    only(await s.noteAppend(`${k}/j`, off(2)));
    const claim = granted(await s.claim(`${k}+pull`, 'worker-1'));
    await s.put(`${k}+free`, pullWake({ streams: [`${k}/f`] }));
    only(await s.noteAppend(`${k}/f`, off(1)));
    return { notice, claim, clock };
  },
  snapshot: async (s, k) => ({
    sub: plain(await s.get(k)),
    pull: plain(await s.get(`${k}+pull`)),
    free: plain(await s.get(`${k}+free`)),
    created: plain(await s.get(`${k}+new`)),
    keys: await s.signingKeys(),
  }),
  cases: [
    {
      method: 'put',
      call: (s, k, o) => s.put(`${k}+new`, webhook({ streams: [`${k}/n`] }), o),
      badArgs: (s, k, o) => s.put(`${k}+new`, webhook({ streams: [] }), o),
      view: (r: Awaited<ReturnType<SubscriptionStore['put']>>) => ({ status: r.status, subscription: plain(r.subscription) }),
    },
    {
      method: 'get',
      reads: true,
      call: (s, k, o) => s.get(k, o),
      badArgs: (s, _k, o) => s.get('', o),
      view: (r: Subscription | undefined) => plain(r),
    },
    { method: 'delete', call: (s, k, o) => s.delete(k, o), badArgs: (s, _k, o) => s.delete('a\u0000b', o) },
    {
      method: 'addStreams',
      call: (s, k, o) => s.addStreams(k, [`${k}/c`], o),
      badArgs: (s, k, o) => s.addStreams(k, `${k}/c` as never, o),
    },
    { method: 'removeStream', call: (s, k, o) => s.removeStream(k, `${k}/b`, o), badArgs: (s, k, o) => s.removeStream(k, '', o) },
    {
      method: 'noteAppend',
      call: (s, k, o) => s.noteAppend(`${k}/a`, off(5), o),
      badArgs: (s, k, o) => s.noteAppend(`${k}/a`, 'soon', o),
      view: (r: WakeNotice[]) => r.map(plainNotice),
    },
    { method: 'noteDelete', call: (s, k, o) => s.noteDelete(`${k}/a`, o), badArgs: (s, _k, o) => s.noteDelete('', o) },
    {
      method: 'claim',
      call: (s, k, o) => s.claim(`${k}+free`, 'worker-2', o),
      badArgs: (s, k, o) => s.claim(`${k}+free`, '', o),
      view: (r: Claim | Refused) => ('refused' in r ? r : { ...r, token: typeof r.token, wake: { ...r.wake, id: 'random' } }),
    },
    {
      method: 'ack',
      call: (s, k, o, st) => s.ack(`${k}+pull`, claimProof(st.claim), [{ stream: `${k}/j`, offset: off(1) }], false, o),
      badArgs: (s, k, o, st) => s.ack(`${k}+pull`, claimProof(st.claim), [{ stream: `${k}/j`, offset: off(1) }], 'no' as never, o),
      view: plainAnswer,
    },
    {
      method: 'release',
      call: (s, k, o, st) => s.release(`${k}+pull`, claimProof(st.claim), o),
      badArgs: (s, k, o, st) => s.release(`${k}+pull`, { ...claimProof(st.claim), generation: -1 }, o),
      view: plainAnswer,
    },
    {
      method: 'reportDelivery',
      call: (s, k, o, st) => s.reportDelivery(k, st.notice.wake.id, 'accepted', o),
      badArgs: (s, k, o, st) => s.reportDelivery(k, st.notice.wake.id, 'ok' as never, o),
      view: plainAnswer,
    },
    {
      method: 'takeDue',
      // A day later every lease and delivery attempt is due; the clock is put back after, for the twins.
      async call(s, _k, o, st) {
        const now = st.clock.now();
        st.clock.set(now + DAY);
        try {
          return await s.takeDue({ limit: 1000, ...o });
        } finally {
          st.clock.set(now);
        }
      },
      badArgs: (s, _k, o) => s.takeDue({ limit: 0, ...o }),
      view: (r: WakeNotice[]) => r.map(plainNotice),
    },
    { method: 'signingKeys', reads: true, call: (s, _k, o) => s.signingKeys(o), badArgs: (s) => s.signingKeys('soon' as never) },
    {
      method: 'putSigningKeys',
      async call(s, k, o) {
        const { version } = await s.signingKeys();
        return s.putSigningKeys([signingKey(`ds_${k}`)], version, o);
      },
      badArgs: (s, k, o) => s.putSigningKeys([signingKey(`ds_${k}`)], -1, o),
    },
  ],
};
