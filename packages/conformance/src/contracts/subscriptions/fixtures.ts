import type {
  AckResult,
  Claim,
  Refused,
  Subscription,
  SubscriptionDefinition,
  SubscriptionLink,
  SubscriptionStore,
  WakeNotice,
  WakeProof,
} from '@stowage/core';
import { expect } from 'vitest';
import type { opener } from '../../context.js';

/** What each part of the contract gets to open its stores. */
export type SubscriptionOpen = ReturnType<typeof opener<SubscriptionStore>>;

export const LEASE = 30_000;
export const HOOK = 'https://hooks.example/wake';
export const WAKES = 'wakes/jobs';

/** The offset after `n` messages, in the shape stream stores give (`0000000000000000_<16 digits>`). */
export const off = (n: number): string => `0000000000000000_${String(n).padStart(16, '0')}`;

export function webhook(over: Partial<SubscriptionDefinition> = {}): SubscriptionDefinition {
  return { type: 'webhook', streams: ['orders/1'], webhookUrl: HOOK, leaseTtlMs: LEASE, ...over };
}

export function pullWake(over: Partial<SubscriptionDefinition> = {}): SubscriptionDefinition {
  return { type: 'pull-wake', streams: ['jobs/1'], wakeStream: WAKES, leaseTtlMs: LEASE, ...over };
}

export function isRefused(x: unknown): x is Refused {
  return typeof x === 'object' && x !== null && 'refused' in x;
}

/** `x` as a granted claim; fails naming the refusal otherwise. */
export function granted(x: Claim | Refused): Claim {
  expect(isRefused(x) ? x.refused : 'granted', 'claim').toBe('granted');
  return x as Claim;
}

/** `x` as an accepted ack; fails naming the refusal otherwise. */
export function accepted(x: AckResult | Refused): AckResult {
  expect(isRefused(x) ? x.refused : 'ok', 'ack').toBe('ok');
  return x as AckResult;
}

/** The one notice of `notices`. */
export function only(notices: WakeNotice[]): WakeNotice {
  expect(notices, 'wake notices').toHaveLength(1);
  return notices[0]!;
}

/** The proof a webhook callback gives: the notice's wake and callback token. */
export function callbackProof(notice: WakeNotice): WakeProof {
  expect(typeof notice.callbackToken, 'a webhook notice carries its callback token').toBe('string');
  return { wakeId: notice.wake.id, generation: notice.wake.generation, token: notice.callbackToken! };
}

/** The proof a pull-wake ack or release gives: the claim's wake and token. */
export function claimProof(claim: Claim): WakeProof {
  return { wakeId: claim.wake.id, generation: claim.wake.generation, token: claim.token };
}

/** Links by path: the contract does not order them. */
export function byPath(links: readonly SubscriptionLink[]): SubscriptionLink[] {
  return [...links].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** A link as a reader expects it. */
export function linkOf(path: string, linkType: 'explicit' | 'glob', ackedOffset = '-1', tailOffset = '-1'): SubscriptionLink {
  return { path, linkType, ackedOffset, tailOffset, hasPending: tailOffset > ackedOffset };
}

/** The link of `path` in the stored subscription `id` (fails when the subscription is gone). */
export async function linkIn(store: SubscriptionStore, id: string, path: string): Promise<SubscriptionLink | undefined> {
  const sub = await store.get(id);
  expect(sub, `subscription ${id}`).toBeDefined();
  return sub!.links.find((l) => l.path === path);
}

/** The stored subscription `id`, which must exist. */
export async function mustGet(store: SubscriptionStore, id: string): Promise<Subscription> {
  const sub = await store.get(id);
  expect(sub, `subscription ${id}`).toBeDefined();
  return sub!;
}

/**
 * A webhook subscription `id` on `orders/1` with one wake started by an append (tail `off(n)`):
 * returns the notice of that wake.
 */
export async function webhookWake(store: SubscriptionStore, id: string, n = 1): Promise<WakeNotice> {
  expect((await store.put(id, webhook())).status).toBe('created');
  return only(await store.noteAppend('orders/1', off(n)));
}

/** A pull-wake subscription `id` on `jobs/1` with pending work (tail `off(n)`), claimed by `worker`. */
export async function claimedWake(store: SubscriptionStore, id: string, worker = 'worker-1', n = 1): Promise<Claim> {
  expect((await store.put(id, pullWake())).status).toBe('created');
  only(await store.noteAppend('jobs/1', off(n)));
  return granted(await store.claim(id, worker));
}

/** Everything a caller can read of the subscription `id` and the signing keys: to see that nothing changed. */
export async function stateOf(store: SubscriptionStore, id: string): Promise<unknown> {
  const sub = await store.get(id);
  return { sub: sub === undefined ? undefined : { ...sub, links: byPath(sub.links) }, keys: await store.signingKeys() };
}
