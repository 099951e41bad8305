import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange } from './raw-http.js';

/**
 * The raw client the fuzz and limit tests read answers with: a body cut by the server is a
 * malformed answer; one cut because the client hung up counts up to where it was cut.
 */
describe('rawExchange', () => {
  let server: Server;
  let base = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('data: first\n\n');
      // `/cut`: the server drops the connection mid-body; otherwise the body never ends.
      if (req.url === '/cut') setTimeout(() => res.socket?.destroy(), 20);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  const request = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;

  it('an answer the client cut by hanging up: its status, headers and the body that came', async () => {
    const { responses } = await rawExchange(base, request('/endless'), 'GET', { hangUpAfterMs: 100 });
    expect(responses).toHaveLength(1);
    expect(responses[0]!.status).toBe(200);
    expect(responses[0]!.headers.get('content-type')).toEqual(['text/event-stream']);
    expect(responses[0]!.body.toString()).toBe('data: first\n\n');
  });

  it('an answer the server cut: rejected as cut short, with or without a hang-up planned for later', async () => {
    await expect(rawExchange(base, request('/cut'), 'GET')).rejects.toThrow(/cut short/);
    await expect(rawExchange(base, request('/cut'), 'GET', { hangUpAfterMs: 2000 })).rejects.toThrow(/cut short/);
  });
});
