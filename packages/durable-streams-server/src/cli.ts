#!/usr/bin/env node
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createSubscriptionStore, type EncryptionKey } from '@stowage/core';
import { encodePath } from './route.js';
import { createStreamsServer } from './server.js';
import { openStore } from './store-spec.js';

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
  --quiet                   do not log error responses
  -h, --help                this text

Environment:
  STOWAGE_SIGNING_KEY       with --webhooks: 32 random bytes, base64 (openssl rand -base64 32);
                            encrypts the webhook signing keys kept in the store. Every replica
                            needs the same value.
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
 * The key ring that seals webhook signing keys, from `STOWAGE_SIGNING_KEY` (base64 or base64url
 * of 32 bytes). Its id is derived from the key, so a replica started with another key says so
 * (the stored keys name the key that sealed them) instead of failing to decrypt in silence.
 */
function signingKeyRing(raw: string | undefined): EncryptionKey[] {
  if (raw === undefined || raw.trim() === '') {
    throw new Error('--webhooks needs STOWAGE_SIGNING_KEY: 32 random bytes in base64, e.g. STOWAGE_SIGNING_KEY=$(openssl rand -base64 32)');
  }
  const text = raw.trim();
  const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(text) ? Buffer.from(text, 'base64') : Buffer.alloc(0);
  if (key.length !== 32) {
    throw new Error(
      `STOWAGE_SIGNING_KEY must be 32 bytes in base64 (44 characters), got ${key.length === 0 ? 'no base64' : `${key.length} bytes`}`,
    );
  }
  return [{ id: `env-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`, key }];
}

main().catch((err: Error) => {
  process.stderr.write(`stowage-streams: ${err.message}\n`);
  process.exit(1);
});
