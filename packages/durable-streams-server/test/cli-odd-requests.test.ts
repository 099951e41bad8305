import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliProcess } from './cli-process.js';
import { rawExchange } from './raw-http.js';

/** Requests that once ended the process (`GET /`), and other odd ones, as raw bytes. */
const ODD: Array<[method: string, target: string, extra?: string]> = [
  ['GET', '/'],
  ['HEAD', '/'],
  ['POST', '/', 'Content-Type: text/plain\r\nContent-Length: 1\r\n\r\nx'],
  ['PUT', '/'],
  ['DELETE', '/'],
  ['OPTIONS', '/'],
  ['GET', '//'],
  ['GET', '/x/'],
  ['GET', '/%zz'],
  ['GET', '/x%00y'],
  ['GET', '/%2e%2e/x'],
  ['GET', '*'],
  ['GET', 'http://x'],
  ['GET', 'http://x/y'],
  ['GET', `/${'n'.repeat(16 * 1024)}`],
  ['BREW', '/coffee'],
  ['PROPFIND', '/x'],
  ['GET', '/missing?offset=-1&live=sse'],
];

describe('no request ends the stowage-streams process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-cli-odd-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const store of ['memory', 'sqlite']) {
    it(`answers / and odd paths, and is still serving afterwards (--store ${store})`, async () => {
      const p = new CliProcess(['--store', store === 'memory' ? 'memory' : `sqlite:${join(dir, 'streams.db')}`]);
      try {
        const url = await p.url;
        expect((await fetch(`${url}/known`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: 'kept' })).status).toBe(201);
        const statuses: number[] = [];
        for (const [method, target, extra] of ODD) {
          const request = `${method} ${target} HTTP/1.1\r\nHost: cli.test\r\nConnection: close\r\n${extra ?? '\r\n'}`;
          const { responses } = await rawExchange(url, request, method);
          statuses.push(responses.at(-1)!.status);
        }
        expect(statuses).toEqual([200, 200, 405, 405, 405, 204, 400, 400, 400, 400, 400, 400, 200, 404, 431, 400, 405, 404]);
        const landing = await (await fetch(`${url}/`)).text();
        expect(landing).toContain(`Store: ${store === 'memory' ? 'MemoryStreamStore' : 'SqliteStreamStore'}`);
        expect(landing).not.toContain(dir); // the store's kind, not its file
        expect(p.exitCode).toBeNull();
        expect(await (await fetch(`${url}/known?offset=-1`)).text()).toBe('kept');
        const output = p.output.join('');
        expect(output).not.toMatch(/unhandled|uncaught|\n\s+at /i);
        expect(await p.stop()).toBe(0);
      } finally {
        await p.stop();
      }
    });
  }
});
