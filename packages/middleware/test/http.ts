// Test helpers: a server on a free port, and a raw HTTP client that keeps the bytes.
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Running {
  url: string;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 and a free port (`app` is an Express app or a request listener). */
export function listen(app: { listen(port: number, host: string, cb: () => void): Server }): Promise<Running> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))),
      });
    });
  });
}

/** A response as it came over the wire: status, header lines in order and case, body bytes. */
export interface RawResponse {
  status: number;
  /** `[name, value]` lines exactly as received. */
  headers: [string, string][];
  body: Buffer;
}

/** The first value of a header (case-insensitive), or undefined. */
export const headerOf = (r: RawResponse, name: string): string | undefined =>
  r.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];

/**
 * A request over a new connection (no keep-alive), read to its end. With `hangUpAfterMs`,
 * the client closes the connection at that time and the promise rejects.
 */
export function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; hangUpAfterMs?: number } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const headers: [string, string][] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
        resolve({ status: res.statusCode!, headers, body: Buffer.concat(chunks) });
      });
    });
    req.on('error', reject);
    if (options.hangUpAfterMs !== undefined) setTimeout(() => req.destroy(new Error('the client hung up')), options.hangUpAfterMs);
    req.end(options.body);
  });
}

/** A JSON POST with an Idempotency-Key. */
export const postJson = (
  url: string,
  key: string,
  body: unknown,
  extra: { hangUpAfterMs?: number; headers?: Record<string, string> } = {},
) =>
  send(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key, ...extra.headers },
    body: JSON.stringify(body),
    ...(extra.hangUpAfterMs === undefined ? {} : { hangUpAfterMs: extra.hangUpAfterMs }),
  });

// Framing and per-message headers: they differ between any two responses by design.
const PER_MESSAGE = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);

/** The header lines that make the representation: all but framing and per-message ones. */
export const representation = (r: RawResponse): [string, string][] => r.headers.filter(([n]) => !PER_MESSAGE.has(n.toLowerCase()));
