import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';
import { BASE, HEADERS, METHODS, PATHS, requestBytes } from './fuzz-cases.js';
import type { OpenedTestStore } from './helpers.js';
import { rawExchange } from './raw-http.js';
import { describeEveryStore } from './stores.js';

/** One log line of the server: time, status, method, target, code, message, on one line. */
const LOG_LINE = /^\d{4}-\d\d-\d\dT[\d:.]+Z stowage-streams [1-5]\d\d \S+ \S+ [A-Z_]+: [^\r\n]*$/;
const CONCURRENCY = 8;

/**
 * Every method × every path shape × every header shape, as raw bytes on a real socket, to a
 * real server on a real store. Each answer must be well-formed HTTP with a status in
 * 100-599 and none 5xx; the process must log nothing unhandled and still serve afterwards.
 */
function describeFuzz(label: string, open: () => Promise<OpenedTestStore>): void {
  describe(label, () => {
    let opened: OpenedTestStore;
    let server: StreamsServer;
    let base = '';
    const lines: string[] = [];
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown): void => void unhandled.push(err);

    beforeAll(async () => {
      process.on('unhandledRejection', onUnhandled);
      process.on('uncaughtException', onUnhandled);
      opened = await open();
      server = createStreamsServer({
        store: opened.store,
        basePath: BASE,
        longPollTimeoutMs: 200,
        sseMaxDurationMs: 300,
        sseHeartbeatMs: 100,
        maxBodyBytes: 4096,
        log: (l) => lines.push(l),
      });
      base = await server.listen(0);
      const sentinel = await fetch(`${base}${BASE}sentinel`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: 'alive' });
      expect(sentinel.status).toBe(201);
    }, 60_000);

    afterAll(async () => {
      process.off('unhandledRejection', onUnhandled);
      process.off('uncaughtException', onUnhandled);
      await server?.close();
      await opened?.close();
    });

    it('answers every method × path × header shape with well-formed HTTP, no 5xx, and keeps serving', async () => {
      const cases: Array<{ id: string; method: string; bytes: Buffer; hangUpAfterMs: number | undefined }> = [];
      for (const [pathName, target] of Object.entries(PATHS)) {
        for (const [shapeName, shape] of Object.entries(HEADERS)) {
          for (const method of METHODS) {
            cases.push({
              id: `${method} ${pathName} / ${shapeName}`,
              method,
              bytes: requestBytes(method, target, shape),
              hangUpAfterMs: shape.hangUpAfterMs,
            });
          }
        }
      }
      const problems: string[] = [];
      const statuses = new Map<number, number>();
      let answered = 0;
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < cases.length) {
          const c = cases[next++]!;
          try {
            const { responses } = await rawExchange(
              base,
              c.bytes,
              c.method,
              c.hangUpAfterMs === undefined ? {} : { hangUpAfterMs: c.hangUpAfterMs },
            );
            if (responses.length > 0) answered++;
            else if (c.hangUpAfterMs === undefined) problems.push(`${c.id}: no answer`);
            for (const r of responses) {
              statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
              if (r.status >= 500) problems.push(`${c.id}: ${r.status} ${r.body.toString('utf8').slice(0, 200)}`);
            }
          } catch (err) {
            problems.push(`${c.id}: ${(err as Error).message}`);
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));

      expect(problems).toEqual([]);
      expect(unhandled).toEqual([]);
      const hangUps = cases.filter((c) => c.hangUpAfterMs !== undefined).length;
      expect(answered).toBeGreaterThanOrEqual(cases.length - hangUps);
      for (const line of lines) expect(line).toMatch(LOG_LINE);
      expect(lines.filter((l) => / stowage-streams 5\d\d /.test(l))).toEqual([]);
      // Every kind of answer the table is meant to reach was reached.
      for (const status of [100, 200, 201, 204, 400, 404, 405, 431]) expect(statuses.get(status), `status ${status}`).toBeGreaterThan(0);
      // Still up, and the stream no case named is intact.
      const after = await fetch(`${base}${BASE}sentinel?offset=-1`);
      expect(after.status).toBe(200);
      expect(await after.text()).toBe('alive');
    }, 180_000);
  });
}

await describeEveryStore((open) => describeFuzz('request fuzz', open));
