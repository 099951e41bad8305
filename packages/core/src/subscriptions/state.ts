import { hashToken, randomToken, safeEqual } from '../tokens.js';
import type { Refused, Subscription, SubscriptionDefinition, SubscriptionLink, Wake, WakeProof } from '../contracts/subscription.js';
import { compareUtf8 } from '../streams/offsets.js';
import { emptyMap } from './documents.js';

/** Before anything: sorts before every stream offset. */
export const BEFORE_FIRST = '-1';

/** One stream's membership as stored. */
export interface StoredLink {
  explicit: boolean;
  glob: boolean;
  acked: string;
  tail: string;
}

/** The wake in progress as stored: the token only as its digest. */
export interface StoredWake {
  id: string;
  generation: number;
  holder?: string;
  leaseExpiresAt: number;
  snapshot: { path: string; tailOffset: string }[];
  tokenDigest?: string;
}

/** A subscription as one JSON document. */
export interface SubscriptionDocument {
  id: string;
  definition: SubscriptionDefinition;
  createdAt: number;
  status: 'active' | 'failed';
  links: Record<string, StoredLink>;
  generation: number;
  wake?: StoredWake;
  /** The digest of the last token taken back (its wake ended, or a retry got a new one): a late ack with it is `FENCED`. */
  endedTokenDigest?: string;
  /**
   * The streams that are members by name: the definition's and those added since. What an
   * append links as explicit (the membership index is only a hint of which documents to visit).
   */
  explicit: string[];
  delivery?: { attempts: number; nextAttemptAt: number };
}

/** The timing rules a store was opened with. */
export interface WakeTiming {
  deliveryTimeoutMs: number;
  maxDeliveryAttempts: number;
  retryBaseMs: number;
}

const MAX_RETRY_DELAY_MS = 60_000;

export function hasPending(link: StoredLink): boolean {
  return compareUtf8(link.tail, link.acked) > 0;
}

export function anyPending(doc: SubscriptionDocument): boolean {
  return Object.values(doc.links).some(hasPending);
}

/** Definitions compare as canonical JSON: explicit streams as a sorted set. */
export function sameDefinition(a: SubscriptionDefinition, b: SubscriptionDefinition): boolean {
  return canonical(a) === canonical(b);
}

function canonical(d: SubscriptionDefinition): string {
  return JSON.stringify([
    d.type,
    d.pattern ?? null,
    [...new Set(d.streams)].sort(),
    d.webhookUrl ?? null,
    d.wakeStream ?? null,
    d.leaseTtlMs,
    d.description ?? null,
  ]);
}

export function newDocument(id: string, definition: SubscriptionDefinition, now: number): SubscriptionDocument {
  const doc: SubscriptionDocument = {
    id,
    definition,
    createdAt: now,
    status: 'active',
    links: emptyMap(),
    generation: 0,
    explicit: [...definition.streams],
  };
  for (const path of definition.streams) link(doc, path, 'explicit');
  return doc;
}

/** Adds a link (or a kind to an existing one); a new link starts with nothing acked or known. */
export function link(doc: SubscriptionDocument, path: string, kind: 'explicit' | 'glob'): StoredLink {
  const found = doc.links[path] ?? { explicit: false, glob: false, acked: BEFORE_FIRST, tail: BEFORE_FIRST };
  found[kind] = true;
  doc.links[path] = found;
  return found;
}

/**
 * Starts a wake (generation + 1). A webhook wake is due for delivery at once, and this
 * caller holds the attempt for the delivery timeout; its callback token is returned once.
 */
export function startWake(doc: SubscriptionDocument, now: number, timing: WakeTiming): { wake: StoredWake; token?: string } {
  doc.generation += 1;
  const wake: StoredWake = {
    id: `w_${randomToken(12)}`,
    generation: doc.generation,
    leaseExpiresAt: now + doc.definition.leaseTtlMs,
    snapshot: Object.entries(doc.links).map(([path, l]) => ({ path, tailOffset: l.tail })),
  };
  doc.wake = wake;
  if (doc.definition.type !== 'webhook') return { wake };
  doc.delivery = { attempts: 0, nextAttemptAt: now + timing.deliveryTimeoutMs };
  const token = issueToken(wake);
  return { wake, token };
}

/** A new random token for the wake; only its digest is kept. Carries the generation, for `FENCED` answers. */
export function issueToken(wake: StoredWake): string {
  const token = `${wake.generation}.${randomToken(32)}`;
  wake.tokenDigest = digestOf(token);
  return token;
}

/** SHA-256, base64url: how tokens are kept. */
export function digestOf(token: string): string {
  return hashToken(token);
}

/** Ends the wake in progress; remembers its token so a late ack is fenced. */
export function endWake(doc: SubscriptionDocument): void {
  if (doc.wake?.tokenDigest !== undefined) doc.endedTokenDigest = doc.wake.tokenDigest;
  delete doc.wake;
  delete doc.delivery;
}

/** Marks the wake's snapshot acked (a webhook answered `done`). Never moves an ack back. */
export function ackSnapshot(doc: SubscriptionDocument): void {
  for (const { path, tailOffset } of doc.wake?.snapshot ?? []) {
    const l = doc.links[path];
    if (l !== undefined && compareUtf8(tailOffset, l.acked) > 0) l.acked = tailOffset;
  }
}

/** When the next failed delivery is retried: doubling from `retryBaseMs`, at most 60 s, +-20% jitter. */
export function retryDelay(attempts: number, timing: WakeTiming): number {
  const base = Math.min(timing.retryBaseMs * 2 ** Math.max(0, attempts - 1), MAX_RETRY_DELAY_MS);
  return Math.max(1, Math.round(base * (0.8 + 0.4 * Math.random())));
}

export function toLink(path: string, l: StoredLink): SubscriptionLink {
  return {
    path,
    linkType: l.explicit ? 'explicit' : 'glob',
    ackedOffset: l.acked,
    tailOffset: l.tail,
    hasPending: hasPending(l),
  };
}

export function toWake(w: StoredWake): Wake {
  return {
    id: w.id,
    generation: w.generation,
    ...(w.holder === undefined ? {} : { holder: w.holder }),
    leaseExpiresAt: w.leaseExpiresAt,
    snapshot: w.snapshot.map((s) => ({ ...s })),
  };
}

/** The caller's copy of a document: nothing in it aliases stored state. */
export function toSubscription(doc: SubscriptionDocument): Subscription {
  const d = doc.definition;
  return {
    id: doc.id,
    type: d.type,
    ...(d.pattern === undefined ? {} : { pattern: d.pattern }),
    streams: [...d.streams],
    ...(d.webhookUrl === undefined ? {} : { webhookUrl: d.webhookUrl }),
    ...(d.wakeStream === undefined ? {} : { wakeStream: d.wakeStream }),
    leaseTtlMs: d.leaseTtlMs,
    ...(d.description === undefined ? {} : { description: d.description }),
    createdAt: doc.createdAt,
    status: doc.status,
    links: Object.entries(doc.links).map(([path, l]) => toLink(path, l)),
    ...(doc.wake === undefined ? {} : { wake: toWake(doc.wake) }),
    generation: doc.generation,
    ...(doc.delivery === undefined ? {} : { delivery: { ...doc.delivery } }),
  };
}

/** Whether `proof` names the wake in progress with its token: `undefined` when it does. */
export function checkProof(doc: SubscriptionDocument | undefined, proof: WakeProof, now: number): Refused | undefined {
  if (doc === undefined) return { refused: 'SUBSCRIPTION_NOT_FOUND' };
  const digest = digestOf(proof.token);
  const wake = doc.wake;
  if (wake?.tokenDigest !== undefined && safeEqual(digest, wake.tokenDigest)) {
    // A webhook wake's lease starts when a delivery is accepted: while one is still due, it cannot run out.
    const leaseOver = doc.delivery === undefined && wake.leaseExpiresAt <= now;
    if (proof.wakeId !== wake.id || proof.generation !== wake.generation || leaseOver) return { refused: 'FENCED' };
    return undefined;
  }
  if (doc.endedTokenDigest !== undefined && safeEqual(digest, doc.endedTokenDigest)) return { refused: 'FENCED' };
  // A token of an older generation (its first part): stale, whoever it was given to.
  const generation = Number(proof.token.split('.', 1)[0]);
  if (Number.isInteger(generation) && generation > 0 && generation < doc.generation) return { refused: 'FENCED' };
  return { refused: 'TOKEN_INVALID' };
}
