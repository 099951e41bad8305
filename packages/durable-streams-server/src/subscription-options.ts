import { type EncryptionKey, encryptedCodec, StowageError, type SubscriptionStore } from '@stowage/core';
import { validateBoolean, validateInteger, validateOptionNames, validateOptions } from '@stowage/core/adapter-kit';
import { source } from './protocol.js';
import { canonicalHost } from './webhook-address.js';

/**
 * The Durable Streams reserved subscription APIs (`{basePath}__ds/...`): webhook and
 * pull-wake subscriptions. Off unless this option is given; `__ds/...` is never a stream
 * name either way.
 */
export interface SubscriptionsOptions {
  /**
   * Where subscriptions, wakes and signing keys live (`createSubscriptionStore` from
   * `@stowage/core` over a SessionStore of the same backend). Replicas given stores over one
   * backend share everything. The server never closes it.
   */
  store: SubscriptionStore;
  /**
   * Accept `webhook` subscriptions and POST their wakes. When off, creating one is refused
   * (400 `INVALID_REQUEST`, "webhook subscriptions are not enabled"); pull-wake works either way.
   * @default false
   */
  webhooks?: boolean;
  /**
   * The key ring that encrypts the Ed25519 signing keys' private halves at rest (core's
   * `encryptedCodec`: the first key seals, every key opens). Every replica needs a ring that
   * holds the key the stored signing keys were sealed with. Required with `webhooks`.
   * @default none (webhooks cannot be enabled)
   */
  signingKeys?: EncryptionKey[];
  /**
   * Hosts or IP addresses (exact, case-insensitive) a webhook URL may name although the
   * server-side request forgery rules refuse them, e.g. `['127.0.0.1']` for tests or a
   * receiver on your own network.
   * @default []
   */
  allowWebhookHosts?: string[];
  /**
   * A webhook POST (connection, request and answer) that takes longer is abandoned and
   * counts as failed. Keep it below the store's own `deliveryTimeoutMs`, which is how long
   * another replica waits before retrying an attempt.
   * @default 10000
   */
  deliveryTimeoutMs?: number;
  /** How often this replica asks the store for due work (webhook retries, expired leases). @default 1000 */
  pollIntervalMs?: number;
  /**
   * The origin in `callback_url` and `jwks_url`, e.g. `https://streams.example.com`: what
   * receivers call back (with their token) and fetch keys from. Set it whenever clients reach
   * the server through another address than it listens on (a proxy, a wildcard host). Never
   * taken from a request's Host header for deliveries: an appender would choose where tokens go.
   * @default the address `listen()` bound (deliveries wait, logged, while there is none); answers
   * to subscription requests name the origin they addressed
   */
  publicBaseUrl?: string;
  /** How long a replaced signing key stays in the JWKS after `rotateSigningKey()`. @default 86400000 (24 h) */
  replacedKeyTtlMs?: number;
}

export interface ResolvedSubscriptions {
  store: SubscriptionStore;
  webhooks: boolean;
  signingKeys: readonly EncryptionKey[] | undefined;
  allowWebhookHosts: ReadonlySet<string>;
  deliveryTimeoutMs: number;
  pollIntervalMs: number;
  publicBaseUrl: string | undefined;
  replacedKeyTtlMs: number;
}

const DAY = 86_400_000;

/** Each option of {@link SubscriptionsOptions}, once. */
const OPTION_NAMES: Readonly<Record<keyof SubscriptionsOptions, true>> = {
  store: true,
  webhooks: true,
  signingKeys: true,
  allowWebhookHosts: true,
  deliveryTimeoutMs: true,
  pollIntervalMs: true,
  publicBaseUrl: true,
  replacedKeyTtlMs: true,
};

export function resolveSubscriptions(options: unknown): ResolvedSubscriptions | undefined {
  if (options === undefined) return undefined;
  const o = validateOptions<SubscriptionsOptions>(source, 'options.subscriptions', options);
  validateOptionNames(source, 'options.subscriptions', o, OPTION_NAMES);
  const store = o.store;
  if (store === null || typeof store !== 'object' || typeof store.noteAppend !== 'function' || typeof store.takeDue !== 'function') {
    throw source.invalid('options.subscriptions.store must be a SubscriptionStore (createSubscriptionStore from @stowage/core)');
  }
  const webhooks = validateBoolean(source, 'options.subscriptions.webhooks', o.webhooks, false);
  let signingKeys: readonly EncryptionKey[] | undefined;
  if (o.signingKeys !== undefined) {
    if (!Array.isArray(o.signingKeys) || o.signingKeys.length === 0) {
      throw source.invalid('options.subscriptions.signingKeys must be a non-empty array of { id, key } (32-byte keys)');
    }
    try {
      encryptedCodec({ keys: o.signingKeys });
    } catch (err) {
      throw source.invalid(`options.subscriptions.signingKeys: ${StowageError.from(err).message}`);
    }
    signingKeys = [...o.signingKeys];
  }
  if (webhooks && signingKeys === undefined) {
    throw source.invalid('options.subscriptions.webhooks needs options.subscriptions.signingKeys, the key ring that seals signing keys');
  }
  const allow = o.allowWebhookHosts ?? [];
  if (!Array.isArray(allow) || allow.some((h) => typeof h !== 'string' || canonicalHost(h).length === 0)) {
    throw source.invalid('options.subscriptions.allowWebhookHosts must be an array of host names or IP addresses');
  }
  const int = (field: keyof SubscriptionsOptions, fallback: number, max: number): number => {
    const v = o[field];
    return v === undefined ? fallback : validateInteger(source, `options.subscriptions.${field}`, v, 1, max);
  };
  return {
    store,
    webhooks,
    signingKeys,
    allowWebhookHosts: new Set(allow.map(canonicalHost)),
    deliveryTimeoutMs: int('deliveryTimeoutMs', 10_000, 10 * 60_000),
    pollIntervalMs: int('pollIntervalMs', 1000, 10 * 60_000),
    publicBaseUrl: o.publicBaseUrl === undefined ? undefined : originOf(o.publicBaseUrl),
    replacedKeyTtlMs: int('replacedKeyTtlMs', DAY, 365 * DAY),
  };
}

function originOf(raw: unknown): string {
  let url: URL | undefined;
  try {
    url = typeof raw === 'string' ? new URL(raw) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search || url.hash) {
    throw source.invalid('options.subscriptions.publicBaseUrl must be an http(s) origin, e.g. https://streams.example.com');
  }
  return url.origin;
}
