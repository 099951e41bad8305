import type { CallOptions, Closeable } from './common.js';

/**
 * Durable Streams subscriptions: who is woken when streams change, and how far each one has
 * read. Two kinds: a `webhook` subscription is woken by an HTTP POST to its URL; a `pull-wake`
 * subscription by an event appended to its wake stream, after which a worker claims the wake.
 *
 * @module
 */

/** `webhook`: the server POSTs each wake to a URL; `pull-wake`: workers claim wakes. */
export type SubscriptionType = 'webhook' | 'pull-wake';

/** What a subscription is, as created. Two definitions are the same when every field is. */
export interface SubscriptionDefinition {
  type: SubscriptionType;
  /**
   * Streams whose names match join the subscription at their first append after it exists.
   * Segments are separated by `/`; `*` matches one segment, `**` zero or more.
   */
  pattern?: string;
  /** Streams that are members by name (explicit links), whether or not they exist yet. */
  streams: readonly string[];
  /** Where wakes of a `webhook` subscription are POSTed (checked by the server, not the store). */
  webhookUrl?: string;
  /** The stream a `pull-wake` subscription's wake events are appended to. */
  wakeStream?: string;
  /** How long a wake is held (by a webhook receiver or a claiming worker) without an ack, integer ms. */
  leaseTtlMs: number;
  description?: string;
}

/** A stream's membership in a subscription, and how far the subscriber has read it. */
export interface SubscriptionLink {
  path: string;
  /** `explicit` when named (by creation or `addStreams`), even if the pattern matches too. */
  linkType: 'explicit' | 'glob';
  /** The subscriber's acknowledged offset; `-1` before anything was acked. */
  ackedOffset: string;
  /** The stream's tail as last reported by `noteAppend`; `-1` while none was. */
  tailOffset: string;
  /** `tailOffset > ackedOffset`: there is something to read. */
  hasPending: boolean;
}

/** The wake in progress: one at a time per subscription. */
export interface Wake {
  /** Random id of this wake. */
  id: string;
  /**
   * Wake generation: strictly increases with every wake of the subscription, across
   * deletes of the wake by ack, release or lease expiry. A fencing token: an ack, release or
   * callback naming another generation is `FENCED`.
   */
  generation: number;
  /** The worker holding the claim (pull-wake), once claimed. */
  holder?: string;
  /**
   * When the wake's lease ends unless an ack extends it, epoch ms on the store's clock. A
   * webhook wake's lease starts when a delivery is accepted; until then its delivery is due.
   */
  leaseExpiresAt: number;
  /** Each linked stream's tail when the wake started: what a webhook's `done` acknowledges. */
  snapshot: readonly { path: string; tailOffset: string }[];
}

/** A stored subscription. */
export interface Subscription extends SubscriptionDefinition {
  id: string;
  /** Epoch ms on the store's clock. */
  createdAt: number;
  /** `failed` while webhook deliveries of the current wake fail; `active` otherwise. */
  status: 'active' | 'failed';
  links: readonly SubscriptionLink[];
  /** The wake in progress, if any. */
  wake?: Wake;
  /** The last generation handed out (0 before the first wake). */
  generation: number;
  /** Webhook delivery of the current wake: failed attempts so far, and when the next is due (epoch ms). */
  delivery?: { attempts: number; nextAttemptAt: number };
}

/**
 * A wake a call started (or found due), for the caller to announce: POST it to the webhook,
 * or append an event to the wake stream. Exactly one call in the cluster gets each.
 */
export interface WakeNotice {
  subscription: Subscription;
  wake: Wake;
  /** The stream whose append started the wake, when one did. */
  triggeredBy?: string;
  /**
   * The webhook callback token of this wake (pull-wake: absent; its token comes with the
   * claim). Only this notice carries it: the store keeps its SHA-256 digest.
   */
  callbackToken?: string;
}

/** An offset a subscriber acknowledges for one of its streams. */
export interface SubscriptionAck {
  stream: string;
  offset: string;
}

/** What an ack, a callback or a release names: the wake, its generation and the token given for it. */
export interface WakeProof {
  wakeId: string;
  generation: number;
  token: string;
}

/**
 * Why a wake call was refused, as the Durable Streams codes name it:
 * `SUBSCRIPTION_NOT_FOUND`; `TOKEN_INVALID` (a token this subscription never gave for that
 * generation); `FENCED` (a stale generation or wake, or a wake that ended); `INVALID_OFFSET`
 * (an ack for a stream that is not linked, of `-1`, behind the acked offset or past the
 * tail); `ALREADY_CLAIMED`; `NO_PENDING_WORK`; `INVALID_REQUEST` (a call for the other type).
 */
export type WakeRefusal =
  | 'SUBSCRIPTION_NOT_FOUND'
  | 'TOKEN_INVALID'
  | 'FENCED'
  | 'INVALID_OFFSET'
  | 'ALREADY_CLAIMED'
  | 'NO_PENDING_WORK'
  | 'INVALID_REQUEST';

/** A refused call: nothing changed. */
export interface Refused {
  refused: WakeRefusal;
  /** For `ALREADY_CLAIMED`: who holds the wake, and its generation. */
  holder?: string;
  generation?: number;
}

/** An accepted ack or callback. `next` is the wake it started at once (`done` with more pending). */
export interface AckResult {
  ok: true;
  next?: WakeNotice;
}

/** A granted claim: the wake, the token to ack with, and the streams to read. */
export interface Claim {
  wake: Wake;
  token: string;
  links: readonly SubscriptionLink[];
  leaseTtlMs: number;
}

/** A webhook signing key as stored: the private key only as the caller encrypted it. */
export interface SigningKeyRecord {
  /** Key id, published in the JWKS and named in each signature. */
  kid: string;
  /** The public key as a JWK (JSON text). */
  publicJwk: string;
  /** The private key, encrypted by the caller (base64). The store never sees it in clear. */
  privateKeySealed: string;
  /** Epoch ms on the store's clock. */
  createdAt: number;
  /** When a newer key replaced it: still published for a while, so deliveries signed before verify. */
  replacedAt?: number;
}

/**
 * Subscription state shared by server replicas: definitions, stream membership, acked
 * offsets, wakes with their generations and leases, webhook delivery retries, and the
 * webhook signing keys.
 *
 * The rules of the Durable Streams reserved subscription APIs, enforced in one atomic step
 * per call whichever replica calls:
 * - At most one wake per subscription at a time. An append to a linked stream with nothing
 *   pending starts one (generation + 1) unless one is in progress; the call that started it
 *   is the only one that gets its {@link WakeNotice}, so a wake is announced once in the
 *   cluster, not once per replica.
 * - A wake ends by an ack or callback with `done`, a release, a webhook answering
 *   `{"done": true}` (which acknowledges the wake's snapshot), or its lease running out. If
 *   something is still pending then, the next wake starts in the same step.
 * - Tokens are random; the store keeps their SHA-256 digests and compares them in constant
 *   time.
 * - Acked offsets never move back; an ack past the reported tail is refused.
 *
 * Refusals the protocol expects are answers ({@link Refused}), not rejections; rejections are
 * `StowageError`s as in every contract (`INVALID_ARGUMENT`, `UNAVAILABLE`, `TIMEOUT`).
 * Every method takes the caller's deadline ({@link CallOptions}).
 */
export interface SubscriptionStore extends Closeable {
  /**
   * Creates the subscription, or confirms it: `exists` when the stored definition equals
   * `definition`, `conflict` (nothing changes) when it differs.
   */
  put(
    id: string,
    definition: SubscriptionDefinition,
    opts?: CallOptions,
  ): Promise<{ status: 'created' | 'exists'; subscription: Subscription } | { status: 'conflict'; subscription: Subscription }>;

  /** The subscription, or `undefined`. */
  get(id: string, opts?: CallOptions): Promise<Subscription | undefined>;

  /** Deletes it with its wake and links. False if it did not exist. A later ack is `SUBSCRIPTION_NOT_FOUND`. */
  delete(id: string, opts?: CallOptions): Promise<boolean>;

  /**
   * Links streams explicitly; each starts with nothing acked and its tail unknown until its
   * next append (an append racing this call may or may not count; every append after it
   * resolves does). False if the subscription does not exist.
   */
  addStreams(id: string, streams: readonly string[], opts?: CallOptions): Promise<boolean>;

  /**
   * Removes a stream's explicit link (a glob link stays); an append racing this call never
   * brings the link back. False if the subscription does not exist.
   */
  removeStream(id: string, stream: string, opts?: CallOptions): Promise<boolean>;

  /**
   * Records that `stream` now ends at `tailOffset` (after an append or a create with
   * content): links it to every subscription whose pattern matches, updates every link's
   * tail, and starts a wake where one is due. Returns the wakes this call started. One
   * subscription that cannot be updated does not hold back the others: the call then rejects
   * with the first failure's code, and `details.started` of that error holds the wakes it
   * started for the others, to be announced all the same, and `details.failedIds` the
   * subscriptions that failed.
   */
  noteAppend(stream: string, tailOffset: string, opts?: CallOptions): Promise<WakeNotice[]>;

  /** Forgets a deleted stream in every subscription. */
  noteDelete(stream: string, opts?: CallOptions): Promise<void>;

  /**
   * A worker claims the pull-wake subscription's wake (starting one if work is pending and
   * none is in progress). The lease is `leaseTtlMs` from now.
   */
  claim(id: string, worker: string, opts?: CallOptions): Promise<Claim | Refused>;

  /**
   * Acknowledges offsets for the wake `proof` names (pull-wake ack, or webhook callback),
   * all or none, and extends its lease; with `done`, ends the wake.
   */
  ack(id: string, proof: WakeProof, acks: readonly SubscriptionAck[], done: boolean, opts?: CallOptions): Promise<AckResult | Refused>;

  /** Ends the claimed wake without acking. */
  release(id: string, proof: WakeProof, opts?: CallOptions): Promise<AckResult | Refused>;

  /**
   * The outcome of a webhook POST for the wake `wakeId`: `done` (the receiver answered
   * `{"done": true}`: its snapshot is acked and the wake ends), `accepted` (a 2xx: the receiver
   * holds the wake until its callback or the lease), or `failed` (the next attempt is
   * scheduled with exponential backoff). Ignored (returns `{ ok: true }`) when that wake has
   * already ended.
   */
  reportDelivery(id: string, wakeId: string, outcome: 'done' | 'accepted' | 'failed', opts?: CallOptions): Promise<AckResult>;

  /**
   * Work that came due, taken by this caller alone: webhook deliveries whose retry time has
   * come (the attempt is the caller's for the store's delivery timeout, so no other caller
   * takes it meanwhile; its callback token is new), and wakes whose lease ran out (the wake
   * ends; with work still pending a new one starts, generation + 1). At most `limit` notices.
   * A subscription that cannot be updated does not hold back the others: as with
   * `noteAppend`, the call then rejects with the first failure, `details.started` holding the
   * notices it took (to be announced) and `details.failedIds` the subscriptions that failed.
   */
  takeDue(opts: { limit: number } & CallOptions): Promise<WakeNotice[]>;

  /** The webhook signing keys with a version for `putSigningKeys`; newest first. */
  signingKeys(opts?: CallOptions): Promise<{ keys: SigningKeyRecord[]; version: number }>;

  /**
   * Replaces the signing keys if their version is still `ifVersion` (0: none stored yet).
   * False when another caller changed them first: read again.
   */
  putSigningKeys(keys: readonly SigningKeyRecord[], ifVersion: number, opts?: CallOptions): Promise<boolean>;
}
