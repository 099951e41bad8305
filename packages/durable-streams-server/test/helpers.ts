import { randomBytes } from 'node:crypto';
import { runConformanceTests } from '@durable-streams/server-conformance-tests';
import { createSubscriptionStore, type SessionStore, type StreamStore } from '@stowage/core';
import { afterAll, beforeAll, describe } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';

export interface OpenedTestStore {
  store: StreamStore;
  /** A SessionStore of the same backend (same file, schema or key prefix), for subscriptions. */
  sessions: SessionStore;
  close(): Promise<void>;
}

/** A fresh signing key ring (one random AES-256 key) for servers with webhooks. */
export const testSigningKeys = () => [{ id: 'test', key: randomBytes(32) }];

/**
 * The official Durable Streams conformance suite (`@durable-streams/server-conformance-tests`)
 * against our server on one store. Its CLI finds no test file under vitest 4, so its
 * `runConformanceTests` is called here; the config object is filled in once the server listens.
 *
 * By default with subscriptions and webhooks on (a subscription store over the backend's
 * SessionStore, receivers on 127.0.0.1 allowed), so the "Reserved subscription APIs" group runs
 * too: 338 tests. The suite puts every stream and control route under `/v1/stream/`, served
 * here as the base path. `rootBase` serves them as it was before subscriptions, the CLI's
 * default: base path `/` (streams named `v1/stream/...`), subscriptions off; 332 tests run and
 * the 6 of the subscription group are skipped.
 */
export function describeOfficialSuite(label: string, open: () => Promise<OpenedTestStore>, o: { rootBase?: boolean } = {}): void {
  describe(label, () => {
    const subscriptions = o.rootBase !== true;
    const config = { baseUrl: 'http://127.0.0.1:1', subscriptions };
    let server: StreamsServer | undefined;
    let opened: OpenedTestStore | undefined;
    beforeAll(async () => {
      opened = await open();
      // The suite waits about a second for long-polls; the default (20 s) is for production.
      server = createStreamsServer({
        store: opened.store,
        basePath: subscriptions ? '/v1/stream/' : '/',
        longPollTimeoutMs: 1000,
        log: false,
        ...(subscriptions
          ? {
              subscriptions: {
                store: createSubscriptionStore({ sessions: opened.sessions }),
                webhooks: true,
                signingKeys: testSigningKeys(),
                allowWebhookHosts: ['127.0.0.1'],
              },
            }
          : {}),
      });
      config.baseUrl = await server.listen(0);
    }, 60_000);
    afterAll(async () => {
      await server?.close();
      await opened?.close();
    });
    runConformanceTests(config);
  });
}

export const randomSuffix = (): string => Math.random().toString(36).slice(2, 10);
