import type {
  Refused,
  Subscription,
  SubscriptionAck,
  SubscriptionDefinition,
  SubscriptionLink,
  WakeNotice,
  WakeRefusal,
} from '@stowage/core';

/**
 * The JSON of the reserved subscription APIs: request bodies read into the store's terms,
 * and the store's answers written in the protocol's (snake_case) terms.
 */

/** Error codes of the subscription APIs and their statuses. */
export const SUBSCRIPTION_STATUS = {
  INVALID_REQUEST: 400,
  WEBHOOK_URL_REJECTED: 400,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  SUBSCRIPTION_NOT_FOUND: 404,
  SUBSCRIPTION_ALREADY_EXISTS: 409,
  FENCED: 409,
  ALREADY_CLAIMED: 409,
  NO_PENDING_WORK: 409,
  INVALID_OFFSET: 409,
} as const;

export type SubscriptionErrorCode = keyof typeof SUBSCRIPTION_STATUS;

/** An answer of the subscription APIs that is an error: `{"error": {"code", "message", ...extra}}`. */
export class SubscriptionError extends Error {
  override readonly name = 'SubscriptionError';
  constructor(
    readonly code: SubscriptionErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }

  get status(): number {
    return SUBSCRIPTION_STATUS[this.code];
  }
}

const invalid = (message: string): SubscriptionError => new SubscriptionError('INVALID_REQUEST', message);

const REFUSAL_MESSAGES: Record<WakeRefusal, string> = {
  SUBSCRIPTION_NOT_FOUND: 'subscription not found',
  TOKEN_INVALID: 'the token was not given for this subscription',
  FENCED: 'the wake or its generation is stale',
  INVALID_OFFSET: 'an ack names a stream that is not linked, offset -1, an offset behind the acked one or past the tail',
  ALREADY_CLAIMED: 'the wake is claimed by another worker',
  NO_PENDING_WORK: 'the subscription has no pending work',
  INVALID_REQUEST: 'the call does not apply to this type of subscription',
};

/** A refusal of the store as the protocol's error answer. */
export function refusalError(r: Refused): SubscriptionError {
  const extra: Record<string, unknown> = {};
  if (r.refused === 'ALREADY_CLAIMED') {
    extra['current_holder'] = r.holder;
    extra['generation'] = r.generation;
  }
  return new SubscriptionError(r.refused, REFUSAL_MESSAGES[r.refused], extra);
}

export const isRefused = (r: object): r is Refused => 'refused' in r;

/** Parses a request body: empty is `{}`, anything but a JSON object is `INVALID_REQUEST`. */
export function jsonObject(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw invalid('the body is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid('the body must be a JSON object');
  return value as Record<string, unknown>;
}

const optionalString = (body: Record<string, unknown>, field: string): string | undefined => {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(`${field} must be a string`);
  return v;
};

const stringArray = (value: unknown, field: string): string[] => {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw invalid(`${field} must be an array of non-empty strings`);
  }
  return value as string[];
};

/** A stream path as subscriptions keep it: without leading or trailing `/`. */
export const relativePath = (path: string): string => path.replace(/^\/+/, '').replace(/\/+$/, '');

export const MIN_LEASE_TTL_MS = 1000;
export const MAX_LEASE_TTL_MS = 600_000;
const DEFAULT_LEASE_TTL_MS = 30_000;

/** The definition a PUT body asks for; the webhook URL is checked by the caller. */
export function parseDefinition(body: Record<string, unknown>): SubscriptionDefinition {
  const type = body['type'];
  if (type !== 'webhook' && type !== 'pull-wake') throw invalid('type must be "webhook" or "pull-wake"');
  const rawPattern = optionalString(body, 'pattern');
  const pattern = rawPattern === undefined || rawPattern.length === 0 ? undefined : relativePath(rawPattern);
  const streams = stringArray(body['streams'], 'streams').map(relativePath);
  if (pattern === undefined && streams.length === 0) throw invalid('at least one of pattern or streams is required');
  const lease = body['lease_ttl_ms'] ?? DEFAULT_LEASE_TTL_MS;
  if (typeof lease !== 'number' || !Number.isInteger(lease) || lease < MIN_LEASE_TTL_MS || lease > MAX_LEASE_TTL_MS) {
    throw invalid(`lease_ttl_ms must be an integer from ${MIN_LEASE_TTL_MS} to ${MAX_LEASE_TTL_MS}`);
  }
  const description = optionalString(body, 'description');
  const definition: SubscriptionDefinition = {
    type,
    ...(pattern === undefined ? {} : { pattern }),
    streams,
    leaseTtlMs: lease,
    ...(description === undefined ? {} : { description }),
  };
  if (type === 'webhook') {
    const webhook = body['webhook'];
    const url = webhook !== null && typeof webhook === 'object' ? (webhook as Record<string, unknown>)['url'] : undefined;
    if (typeof url !== 'string' || url.length === 0) throw invalid('webhook subscriptions require webhook.url');
    definition.webhookUrl = url;
  } else {
    const wakeStream = optionalString(body, 'wake_stream');
    if (wakeStream === undefined || relativePath(wakeStream).length === 0) throw invalid('pull-wake subscriptions require wake_stream');
    const name = relativePath(wakeStream);
    if (name === '__ds' || name.startsWith('__ds/')) throw invalid('wake_stream cannot be under the reserved __ds/ prefix');
    definition.wakeStream = relativePath(wakeStream);
  }
  return definition;
}

/** `POST .../streams`: the streams to link. */
export function parseStreams(body: Record<string, unknown>): string[] {
  const streams = stringArray(body['streams'], 'streams').map(relativePath);
  if (streams.length === 0 || streams.some((s) => s.length === 0)) throw invalid('streams must be a non-empty array of stream paths');
  return streams;
}

/** `POST .../claim`: the worker. */
export function parseWorker(body: Record<string, unknown>): string {
  const worker = body['worker'];
  if (typeof worker !== 'string' || worker.length === 0) throw invalid('worker must be a non-empty string');
  return worker;
}

/** What an ack, callback or release names: the wake, its generation, and (not release) acks and `done`. */
export function parseWakeCall(body: Record<string, unknown>): {
  wakeId: string;
  generation: number;
  acks: SubscriptionAck[];
  done: boolean;
} {
  const wakeId = body['wake_id'];
  if (typeof wakeId !== 'string' || wakeId.length === 0) throw invalid('wake_id must be a non-empty string');
  const generation = body['generation'];
  if (typeof generation !== 'number' || !Number.isSafeInteger(generation) || generation < 0) {
    throw invalid('generation must be a non-negative integer');
  }
  const rawAcks = body['acks'] ?? [];
  if (!Array.isArray(rawAcks)) throw invalid('acks must be an array of { stream, offset }');
  const acks = rawAcks.map((a: unknown) => {
    const ack = a !== null && typeof a === 'object' ? (a as Record<string, unknown>) : {};
    const stream = ack['stream'] ?? ack['path'];
    const offset = ack['offset'];
    if (typeof stream !== 'string' || typeof offset !== 'string' || relativePath(stream).length === 0 || offset.length === 0) {
      throw invalid('each ack must be { stream, offset } with non-empty strings');
    }
    return { stream: relativePath(stream), offset };
  });
  const done = body['done'] ?? false;
  if (typeof done !== 'boolean') throw invalid('done must be a boolean');
  return { wakeId, generation, acks, done };
}

/** The bearer token of `Authorization`, or `TOKEN_INVALID`. */
export function bearerToken(header: string | undefined): string {
  const m = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
  if (m === null) throw new SubscriptionError('TOKEN_INVALID', 'Authorization: Bearer <token> is required');
  // Longer than any token this server gives: not one of ours (not a body-size problem).
  if (m[1]!.length > 512) throw new SubscriptionError('TOKEN_INVALID', 'the token was not given for this subscription');
  return m[1]!;
}

/** A link with everything a reader needs (claims, webhook bodies). */
export function linkWire(l: SubscriptionLink): Record<string, unknown> {
  return { path: l.path, link_type: l.linkType, acked_offset: l.ackedOffset, tail_offset: l.tailOffset, has_pending: l.hasPending };
}

/** Where the reserved APIs live, for the URLs in answers. */
export interface ControlUrls {
  /** `{origin}{encoded basePath}__ds/` */
  root: string;
}

export const subscriptionUrl = (urls: ControlUrls, id: string, action?: string): string =>
  `${urls.root}subscriptions/${encodeURIComponent(id)}${action === undefined ? '' : `/${action}`}`;

export const jwksUrl = (urls: ControlUrls): string => `${urls.root}jwks.json`;

/** A subscription as GET and PUT answer it: never a secret, a token or a private key. */
export function subscriptionWire(s: Subscription, urls: ControlUrls, kid: string | undefined): Record<string, unknown> {
  return {
    id: s.id,
    subscription_id: s.id,
    type: s.type,
    pattern: s.pattern,
    streams: s.links.map((l) => ({ path: l.path, link_type: l.linkType, acked_offset: l.ackedOffset })),
    webhook: s.webhookUrl === undefined ? undefined : { url: s.webhookUrl, signing: { alg: 'ed25519', kid, jwks_url: jwksUrl(urls) } },
    wake_stream: s.wakeStream,
    lease_ttl_ms: s.leaseTtlMs,
    created_at: new Date(s.createdAt).toISOString(),
    status: s.status,
    description: s.description,
  };
}

/** The body of a webhook POST. */
export function webhookBody(n: WakeNotice, urls: ControlUrls): string {
  return JSON.stringify({
    subscription_id: n.subscription.id,
    wake_id: n.wake.id,
    generation: n.wake.generation,
    streams: n.subscription.links.map(linkWire),
    callback_url: subscriptionUrl(urls, n.subscription.id, 'callback'),
    callback_token: n.callbackToken,
  });
}

/** The event a pull-wake wake appends to the wake stream. */
export function wakeEvent(n: WakeNotice, nowMs: number): string {
  const stream = n.triggeredBy ?? n.subscription.links.find((l) => l.hasPending)?.path ?? null;
  return JSON.stringify({ type: 'wake', subscription_id: n.subscription.id, stream, generation: n.wake.generation, ts: nowMs });
}
