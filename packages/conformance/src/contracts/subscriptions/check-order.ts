import type { SubscriptionStore } from '@stowage/core';
import type { CheckOrderCase } from '../../check-order-rule.js';
import { off, webhook } from './fixtures.js';
import { signingKey } from './signing-keys.js';

// The table of `checkOrderTests` for SubscriptionStore: every method on a subscription `k` that
// does not exist (its streams are named `k/...`), with arguments it could be tempted to check
// only once it has found the subscription.

const PROOF = { wakeId: 'w_1', generation: 1, token: `1.${'a'.repeat(43)}` };
const NOT_FOUND = { value: { refused: 'SUBSCRIPTION_NOT_FOUND' } };

export const SUBSCRIPTION_ORDER: readonly CheckOrderCase<SubscriptionStore>[] = [
  {
    method: 'put',
    valid: (s, k, o) => s.put(k, webhook({ streams: [`${k}/a`] }), o),
    bad: [
      { label: 'leaseTtlMs 0', call: (s, k, o) => s.put(k, webhook({ streams: [`${k}/a`], leaseTtlMs: 0 }), o) },
      {
        label: 'a pull-wake without wakeStream',
        call: (s, k, o) => s.put(k, { type: 'pull-wake', streams: [`${k}/a`], leaseTtlMs: 1000 }, o),
      },
    ],
  },
  {
    method: 'get',
    valid: (s, k, o) => s.get(k, o),
    answer: { value: undefined },
    bad: [{ label: 'options that are not an object', call: (s, k) => s.get(k, 'soon' as never) }],
  },
  {
    method: 'delete',
    valid: (s, k, o) => s.delete(k, o),
    answer: { value: false },
    bad: [{ label: 'an empty id', call: (s, _k, o) => s.delete('', o) }],
  },
  {
    method: 'addStreams',
    valid: (s, k, o) => s.addStreams(k, [`${k}/a`], o),
    answer: { value: false },
    bad: [
      { label: 'streams that are a string', call: (s, k, o) => s.addStreams(k, `${k}/a` as never, o) },
      { label: 'an empty stream name', call: (s, k, o) => s.addStreams(k, [''], o) },
    ],
  },
  {
    method: 'removeStream',
    valid: (s, k, o) => s.removeStream(k, `${k}/a`, o),
    answer: { value: false },
    bad: [{ label: 'an empty stream name', call: (s, k, o) => s.removeStream(k, '', o) }],
  },
  {
    method: 'noteAppend',
    valid: (s, k, o) => s.noteAppend(`${k}/a`, off(1), o),
    answer: { value: [] },
    bad: [{ label: "tailOffset 'soon'", call: (s, k, o) => s.noteAppend(`${k}/a`, 'soon', o) }],
  },
  {
    method: 'noteDelete',
    valid: (s, k, o) => s.noteDelete(`${k}/a`, o),
    answer: { value: undefined },
    bad: [{ label: 'an empty stream name', call: (s, _k, o) => s.noteDelete('', o) }],
  },
  {
    method: 'claim',
    valid: (s, k, o) => s.claim(k, 'worker-1', o),
    answer: NOT_FOUND,
    bad: [{ label: 'an empty worker', call: (s, k, o) => s.claim(k, '', o) }],
  },
  {
    method: 'ack',
    valid: (s, k, o) => s.ack(k, PROOF, [{ stream: `${k}/a`, offset: off(1) }], true, o),
    answer: NOT_FOUND,
    bad: [
      { label: 'generation -1', call: (s, k, o) => s.ack(k, { ...PROOF, generation: -1 }, [], true, o) },
      { label: 'a numeric offset', call: (s, k, o) => s.ack(k, PROOF, [{ stream: `${k}/a`, offset: 1 as never }], true, o) },
      { label: "done 'yes'", call: (s, k, o) => s.ack(k, PROOF, [], 'yes' as never, o) },
    ],
  },
  {
    method: 'release',
    valid: (s, k, o) => s.release(k, PROOF, o),
    answer: NOT_FOUND,
    bad: [{ label: 'an empty token', call: (s, k, o) => s.release(k, { ...PROOF, token: '' }, o) }],
  },
  {
    method: 'reportDelivery',
    valid: (s, k, o) => s.reportDelivery(k, 'w_1', 'failed', o),
    answer: { value: { ok: true } },
    bad: [{ label: "outcome 'ok'", call: (s, k, o) => s.reportDelivery(k, 'w_1', 'ok' as never, o) }],
  },
  {
    method: 'takeDue',
    valid: (s, _k, o) => s.takeDue({ limit: 10, ...o }),
    answer: { value: [] },
    bad: [{ label: 'limit 0', call: (s, _k, o) => s.takeDue({ limit: 0, ...o }) }],
  },
  {
    method: 'signingKeys',
    valid: (s, _k, o) => s.signingKeys(o),
    answer: { value: { keys: [], version: 0 } },
    bad: [{ label: 'options that are a number', call: (s) => s.signingKeys(5 as never) }],
  },
  {
    method: 'putSigningKeys',
    valid: (s, k, o) => s.putSigningKeys([signingKey(`ds_${k}`)], 3, o),
    answer: { value: false },
    bad: [
      { label: 'ifVersion -1', call: (s, k, o) => s.putSigningKeys([signingKey(`ds_${k}`)], -1, o) },
      { label: 'an empty kid', call: (s, k, o) => s.putSigningKeys([{ ...signingKey(`ds_${k}`), kid: '' }], 3, o) },
    ],
  },
];
