import { runConformanceTests } from '@durable-streams/server-conformance-tests';
import type { StreamStore } from '@stowage/core';
import { afterAll, beforeAll, describe } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';

export interface OpenedTestStore {
  store: StreamStore;
  close(): Promise<void>;
}

/**
 * The official Durable Streams conformance suite (`@durable-streams/server-conformance-tests`)
 * against our server on one store. Its CLI finds no test file under vitest 4, so its
 * `runConformanceTests` is called here; the config object is filled in once the server listens.
 */
export function describeOfficialSuite(label: string, open: () => Promise<OpenedTestStore>): void {
  describe(label, () => {
    const config = { baseUrl: 'http://127.0.0.1:1' };
    let server: StreamsServer | undefined;
    let opened: OpenedTestStore | undefined;
    beforeAll(async () => {
      opened = await open();
      // The suite waits about a second for long-polls; the default (20 s) is for production.
      server = createStreamsServer({ store: opened.store, longPollTimeoutMs: 1000, log: false });
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
