import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { createStreamsHandler, type StreamsRequestHandler } from './handler.js';
import { logOf, type StreamsServerOptions } from './options.js';

export interface StreamsServer {
  /** The `node:http` server. */
  readonly server: Server;
  /** Its request listener, also usable on a server of your own. */
  readonly handler: StreamsRequestHandler;
  /** Starts listening; resolves to the base URL, e.g. `http://127.0.0.1:4437`. @default port 4437, host 127.0.0.1 */
  listen(port?: number, host?: string): Promise<string>;
  /**
   * Stops accepting connections, ends live reads, lets in-flight requests finish (cut after
   * `graceMs`). The store is left open: it belongs to the caller.
   */
  close(graceMs?: number): Promise<void>;
}

/** The Durable Streams protocol on a `node:http` server of its own. */
export function createStreamsServer(options: StreamsServerOptions): StreamsServer {
  const handler = createStreamsHandler(options);
  const log = logOf(options);
  const server = createServer((req, res) => handler(req, res));
  // Requests Node cannot parse (malformed headers, oversized header block) never reach the
  // handler: answer them here, log one line, keep serving. A client that closed its side
  // mid-request (EOF) cannot be answered; when its request had reached the handler, the
  // handler logs its one line, so this adds none.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    log(`${new Date().toISOString()} stowage-streams ${status} - - ${err.code ?? 'CLIENT_ERROR'}: ${err.message}`);
    socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  return {
    server,
    handler,
    listen(port = 4437, host = '127.0.0.1') {
      return new Promise<string>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address();
          const actual = typeof address === 'object' && address !== null ? address.port : port;
          resolve(`http://${host.includes(':') ? `[${host}]` : host}:${actual}`);
        });
      });
    },
    close(graceMs = 5000) {
      handler.close();
      return new Promise<void>((resolve) => {
        if (!server.listening) {
          resolve();
          return;
        }
        const cut = setTimeout(() => server.closeAllConnections(), graceMs);
        cut.unref();
        // Connections become idle as their last response ends (live reads end now): close
        // them as they do, instead of waiting for the keep-alive timeout.
        const idle = setInterval(() => server.closeIdleConnections(), 20);
        server.close(() => {
          clearTimeout(cut);
          clearInterval(idle);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}
