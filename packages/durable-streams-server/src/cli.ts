#!/usr/bin/env node
import { createSubscriptionStore, StowageError } from '@stowage/core';
import { repeatInBackground } from '@stowage/core/adapter-kit';
import { readConfig } from './cli-config.js';
import { settingsOf } from './cli-settings.js';
import { packageVersion, USAGE } from './cli-usage.js';
import { webhookKeysOf } from './handler.js';
import { jsonLogger, type ServerReport, serverReporter, type StreamsLogger } from './log.js';
import { publicMessage } from './responses.js';
import { encodePath } from './route.js';
import { createStreamsServer } from './server.js';
import { signingKeyRing } from './signing-key-ring.js';
import { openStore } from './store-spec.js';
import type { WebhookKeys } from './webhook-keys.js';

/** Set once the store is open: a failure before is a usage error (exit 2), after it a failure (exit 1). */
let started = false;

/**
 * A repeat of the first signal this soon is that signal delivered twice, not a second one: a
 * terminal's Ctrl-C reaches the whole process group, and npm (`npm start`) passes its own copy
 * on to the server too. Exiting at once on it cut every Ctrl-C shutdown short.
 */
const SAME_SIGNAL_MS = 1000;

/** The codes of a store that fails to open for a reason of the moment, not of its options. */
const MOMENTARY: ReadonlySet<string> = new Set(['UNAVAILABLE', 'TIMEOUT']);

async function main(): Promise<void> {
  const raw = readConfig(process.argv.slice(2), process.env);
  if (raw.flags.get('help')?.value === true) {
    process.stdout.write(USAGE);
    return;
  }
  if (raw.flags.get('version')?.value === true) {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  const settings = settingsOf(raw);
  const { basePath, webhooks } = settings;
  const subscriptionsOn = settings.subscriptions;
  const signingKeys = webhooks ? signingKeyRing(process.env['STOWAGE_SIGNING_KEY']) : undefined;
  // Logs are JSON lines from here on; the start-up lines below stay plain text, for people.
  const logger = jsonLogger({ level: settings.logLevel });
  const report = serverReporter(undefined, logger);
  const storeOptions = {
    ...settings.storeOptions,
    sessions: subscriptionsOn,
    onError: (error: Error, context: { operation: string; store: string }) =>
      report(context.operation, error, namingStoreOnce(context.store, error.message)),
  };

  const opened = await openStore(settings.store, storeOptions);
  started = true;
  let streams: ReturnType<typeof createStreamsServer>;
  try {
    streams = createStreamsServer({
      store: opened.store,
      basePath,
      ...(settings.longPollTimeoutMs === undefined ? {} : { longPollTimeoutMs: settings.longPollTimeoutMs }),
      ...(settings.maxBodyBytes === undefined ? {} : { maxBodyBytes: settings.maxBodyBytes }),
      readMaxBytes: settings.readMaxBytes,
      readMaxMessages: settings.readMaxMessages,
      readConcurrency: settings.readConcurrency,
      readQueueTimeoutMs: settings.readQueueTimeoutMs,
      ...(settings.sseHeartbeatMs === undefined ? {} : { sseHeartbeatMs: settings.sseHeartbeatMs }),
      ...(settings.sseMaxDurationMs === undefined ? {} : { sseMaxDurationMs: settings.sseMaxDurationMs }),
      ...settings.timeouts,
      ...settings.headers,
      health: () => opened.health(),
      logger,
      ...(settings.quiet ? { log: false as const } : {}),
      ...(opened.sessions === undefined
        ? {}
        : {
            subscriptions: {
              store: createSubscriptionStore({ sessions: opened.sessions }),
              webhooks,
              ...(signingKeys === undefined ? {} : { signingKeys }),
              allowWebhookHosts: settings.allowWebhookHosts,
              ...(settings.publicBaseUrl === undefined ? {} : { publicBaseUrl: settings.publicBaseUrl }),
            },
          }),
    });
    // Before listening: the first delivery and the first answer already name the new key.
    if (settings.rotateSigningKey) {
      const kid = await streams.rotateSigningKey().catch((err: Error) => {
        throw new Error(`--rotate-signing-key failed: ${err.message}`);
      });
      process.stdout.write(`Signing key rotated: ${kid} signs from now on (a key it replaces stays in the JWKS for 24 h)\n`);
    }
  } catch (err) {
    await opened.close();
    throw err;
  }
  const url = await streams.listen(settings.port, settings.host);
  // Before the start-up lines: a supervisor that reads them may signal at once.
  const { cleanupMs } = settings;
  const cleanup =
    cleanupMs > 0
      ? repeatInBackground(
          () => opened.store.cleanupExpired(),
          cleanupMs,
          (err) => report('cleanupExpired', err, `cleanup failed: ${err instanceof Error ? err.message : String(err)}`),
          'cleanupExpired',
        )
      : undefined;

  let first: { signal: string; at: number } | undefined;
  const stop = (signal: string): void => {
    if (first !== undefined) {
      if (signal === first.signal && performance.now() - first.at < SAME_SIGNAL_MS) return;
      process.stderr.write(`${signal} again: exiting now, without waiting for requests in flight\n`);
      process.exit(1);
    }
    first = { signal, at: performance.now() };
    process.stdout.write(`${signal}: closing (readiness now 503; requests in flight get up to ${settings.shutdownMs} ms)\n`);
    // The cleanup in flight ends before the store closes under it.
    const cleanupStopped = cleanup?.stop();
    // Whatever hangs (a store that does not close): exit all the same, a little after the grace time.
    setTimeout(() => {
      report('shutdown', new Error('shutdown took too long'), 'shutdown took too long: exiting');
      process.exit(1);
    }, settings.shutdownMs + 5000).unref();
    streams
      .close(settings.shutdownMs)
      .then(() => cleanupStopped)
      .then(() => opened.close())
      .then(
        () => process.exit(0),
        (err: Error) => {
          report('shutdown', err, `close failed: ${err.message}`);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // The base path as it goes into a URL: `/a b` is `/a%20b/`, `/x?y` is `/x%3Fy/`.
  const base = `${url}${encodePath(basePath)}`;
  process.stdout.write(`Durable Streams server on ${base} (store: ${opened.label})\n`);
  if (subscriptionsOn) {
    process.stdout.write(`Subscriptions: ${base}__ds/subscriptions/<id> (${webhooks ? 'webhook and pull-wake' : 'pull-wake only'})\n`);
  }
  process.stdout.write(`Try: curl -X PUT -H 'Content-Type: text/plain' ${base}hello\n`);
  logger.info({ url: base, store: opened.label }, 'listening');
  // A store that does not answer at start (a closed port, a wrong password) would otherwise
  // show only in the 503s of the first requests: say so once, and keep serving.
  void opened.health().then((probe) => {
    if (!probe.ok) {
      const reason = (probe.error ?? 'no reason given').replace(/[\r\n]+/g, ' ');
      logger.warn({ operation: 'health' }, `the store does not answer (${reason}); requests that need it get 503 until it does`);
    }
  });
  const keys = webhooks ? webhookKeysOf(streams.handler) : undefined;
  if (keys !== undefined) void resealSigningKeys(keys, logger, report);
}

/**
 * At start: re-seals the stored signing keys with the ring's first key (so an older ring key
 * can leave the ring), and says at once when the key deliveries are signed with cannot be
 * opened (instead of at the first delivery). In the background, like the store's health probe.
 */
async function resealSigningKeys(keys: WebhookKeys, logger: StreamsLogger, report: ServerReport): Promise<void> {
  try {
    const resealed = await keys.reseal();
    for (const r of resealed.resealed) {
      logger.info(
        { operation: 'signingKeys', kid: r.kid },
        `Signing key ${r.kid}: re-sealed with ring key ${resealed.sealer} (was ${r.was})`,
      );
    }
    for (const u of resealed.unopenable) if (u.current) logger.warn({ operation: 'signingKeys' }, u.message);
  } catch (err) {
    report('signingKeys', err, `the signing keys could not be checked at start: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * `store: message`, the store named once: a store's own errors already start with its name
 * (`@stowage/stores-redis RedisStreamStore: ...`); a driver's (`ioredis client`, `pg Pool`) do not.
 */
function namingStoreOnce(store: string, message: string): string {
  return message.startsWith(`${store}: `) ? message : `${store}: ${message}`;
}

main().catch((err: Error) => {
  // Before the store is open, a failure comes from an option or variable given (a store spec,
  // a signing key ring): a usage error, unless the store itself refused for a reason of the
  // moment (a SQLite file locked by another process past its wait, a database down): exit 1,
  // so a process manager tries again.
  const ofTheMoment = StowageError.is(err) && MOMENTARY.has(err.code);
  process.stderr.write(`stowage-streams: ${publicMessage(err.message).replace(/[\r\n]+/g, ' ')}\n`);
  process.exit(started || ofTheMoment ? 1 : 2);
});
