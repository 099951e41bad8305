#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { createSubscriptionStore } from '@stowage/core';
import { webhookKeysOf } from './handler.js';
import { encodePath } from './route.js';
import { createStreamsServer } from './server.js';
import { signingKeyRing } from './signing-key-ring.js';
import { openStore } from './store-spec.js';
import type { WebhookKeys } from './webhook-keys.js';

const USAGE = `Usage: stowage-streams [options]

A Durable Streams protocol server over a Stowage StreamStore.

  --store SPEC              memory | sqlite:PATH | postgres://... | redis://...
                            (default: sqlite:./data/streams.db)
  --host HOST               interface to listen on (default: 127.0.0.1)
  --port PORT               port (default: 4437, the protocol's port; 0 picks one)
  --base-path PATH          streams live under this path (default: /)
  --long-poll-timeout MS    how long a long-poll waits for data (default: 20000)
  --max-body-bytes N        largest request body, larger is 413 (default: 8388608)
  --cleanup-interval MS     delete expired streams this often (default: 60000; 0: never)
  --subscriptions           serve the reserved subscription APIs ({base}__ds/...), pull-wake
                            subscriptions only; their state lives in the same store (off by default)
  --webhooks                also accept webhook subscriptions and deliver them (implies
                            --subscriptions); needs STOWAGE_SIGNING_KEY (off by default)
  --allow-webhook-host HOST a webhook host or IP allowed despite the private-address rules
                            (exact match; repeatable), e.g. 127.0.0.1 for a local receiver
  --public-base-url URL     origin put in callback and JWKS URLs (default: the request's Host)
  --rotate-signing-key      with --webhooks: at start, add a new webhook signing key that signs
                            from then on (the replaced one stays in the JWKS for 24 h). Run one
                            replica once with it, e.g. when the ring key that sealed the stored
                            signing key is lost
  --quiet                   do not log error responses
  -h, --help                this text

Environment:
  STOWAGE_SIGNING_KEY       with --webhooks: the key ring that encrypts the webhook signing keys
                            kept in the store; keys of 32 random bytes in base64 (openssl rand
                            -base64 32), comma-separated. The first seals, every one opens; each
                            is named env-<first 12 hex of its SHA-256>. To rotate it: add the
                            new key last on every replica; then put it first (a start re-seals
                            the stored keys with it); then drop the old key.
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      store: { type: 'string', default: 'sqlite:./data/streams.db' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '4437' },
      'base-path': { type: 'string', default: '/' },
      'long-poll-timeout': { type: 'string' },
      'max-body-bytes': { type: 'string' },
      'cleanup-interval': { type: 'string', default: '60000' },
      quiet: { type: 'boolean', default: false },
      subscriptions: { type: 'boolean', default: false },
      webhooks: { type: 'boolean', default: false },
      'allow-webhook-host': { type: 'string', multiple: true, default: [] },
      'public-base-url': { type: 'string' },
      'rotate-signing-key': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const int = (name: string, raw: string | undefined): number | undefined => {
    if (raw === undefined) return undefined;
    if (!/^\d+$/.test(raw)) throw new Error(`--${name} must be a non-negative integer, got ${raw}`);
    return Number(raw);
  };
  const port = int('port', values.port)!;
  const longPollTimeoutMs = int('long-poll-timeout', values['long-poll-timeout']);
  const maxBodyBytes = int('max-body-bytes', values['max-body-bytes']);
  const cleanupMs = int('cleanup-interval', values['cleanup-interval'])!;

  // The printed URLs join the base path and a name: `/streams` and `/streams/` are the same base.
  const basePath = values['base-path'].endsWith('/') ? values['base-path'] : `${values['base-path']}/`;

  const webhooks = values.webhooks;
  const subscriptionsOn = values.subscriptions || webhooks;
  if (!subscriptionsOn && (values['allow-webhook-host'].length > 0 || values['public-base-url'] !== undefined)) {
    throw new Error('--allow-webhook-host and --public-base-url need --webhooks or --subscriptions');
  }
  if (values['rotate-signing-key'] && !webhooks) throw new Error('--rotate-signing-key needs --webhooks');
  const signingKeys = webhooks ? signingKeyRing(process.env['STOWAGE_SIGNING_KEY']) : undefined;

  const opened = await openStore(values.store, { sessions: subscriptionsOn });
  let streams: ReturnType<typeof createStreamsServer>;
  try {
    streams = createStreamsServer({
      store: opened.store,
      basePath,
      ...(longPollTimeoutMs === undefined ? {} : { longPollTimeoutMs }),
      ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
      ...(values.quiet ? { log: false as const } : {}),
      ...(opened.sessions === undefined
        ? {}
        : {
            subscriptions: {
              store: createSubscriptionStore({ sessions: opened.sessions }),
              webhooks,
              ...(signingKeys === undefined ? {} : { signingKeys }),
              allowWebhookHosts: values['allow-webhook-host'],
              ...(values['public-base-url'] === undefined ? {} : { publicBaseUrl: values['public-base-url'] }),
            },
          }),
    });
    // Before listening: the first delivery and the first answer already name the new key.
    if (values['rotate-signing-key']) {
      const kid = await streams.rotateSigningKey().catch((err: Error) => {
        throw new Error(`--rotate-signing-key failed: ${err.message}`);
      });
      process.stdout.write(`Signing key rotated: ${kid} signs from now on (a key it replaces stays in the JWKS for 24 h)\n`);
    }
  } catch (err) {
    await opened.close();
    throw err;
  }
  const url = await streams.listen(port, values.host);
  // The base path as it goes into a URL: `/a b` is `/a%20b/`, `/x?y` is `/x%3Fy/`.
  const base = `${url}${encodePath(basePath)}`;
  process.stdout.write(`Durable Streams server on ${base} (store: ${opened.label})\n`);
  if (subscriptionsOn) {
    process.stdout.write(`Subscriptions: ${base}__ds/subscriptions/<id> (${webhooks ? 'webhook and pull-wake' : 'pull-wake only'})\n`);
  }
  process.stdout.write(`Try: curl -X PUT -H 'Content-Type: text/plain' ${base}hello\n`);
  // A store that does not answer at start (a closed port, a wrong password) would otherwise
  // show only in the 503s of the first requests: say so once, and keep serving.
  void opened.health().then((probe) => {
    if (!probe.ok) {
      const reason = (probe.error ?? 'no reason given').replace(/[\r\n]+/g, ' ');
      process.stderr.write(`warning: the store does not answer (${reason}); requests get 503 until it does\n`);
    }
  });

  const keys = webhooks ? webhookKeysOf(streams.handler) : undefined;
  if (keys !== undefined) void resealSigningKeys(keys);

  const cleanup =
    cleanupMs > 0
      ? setInterval(() => {
          opened.store.cleanupExpired().catch((err: Error) => process.stderr.write(`cleanup failed: ${err.message}\n`));
        }, cleanupMs).unref()
      : undefined;

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${signal}: closing\n`);
    if (cleanup !== undefined) clearInterval(cleanup);
    streams
      .close()
      .then(() => opened.close())
      .then(
        () => process.exit(0),
        (err: Error) => {
          process.stderr.write(`close failed: ${err.message}\n`);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

/**
 * At start: re-seals the stored signing keys with the ring's first key (so an older ring key
 * can leave the ring), and says at once when the key deliveries are signed with cannot be
 * opened (instead of at the first delivery). In the background, like the store's health probe.
 */
async function resealSigningKeys(keys: WebhookKeys): Promise<void> {
  try {
    const report = await keys.reseal();
    for (const r of report.resealed) {
      process.stdout.write(`Signing key ${r.kid}: re-sealed with ring key ${report.sealer} (was ${r.was})\n`);
    }
    for (const u of report.unopenable) if (u.current) process.stderr.write(`warning: ${u.message}\n`);
  } catch (err) {
    process.stderr.write(`warning: the signing keys could not be checked at start: ${err instanceof Error ? err.message : String(err)}\n`);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`stowage-streams: ${err.message}\n`);
  process.exit(1);
});
