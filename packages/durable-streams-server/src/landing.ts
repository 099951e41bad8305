import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StreamStore } from '@stowage/core';
import type { ResolvedOptions } from './options.js';
import { requestOrigin } from './origin.js';
import { encodePath } from './route.js';
import { preflightHeaders, sendMethodNotAllowed } from './responses.js';

/** The root answers only these: it is a page about the server, not a stream. */
export const ROOT_METHODS = 'GET, HEAD, OPTIONS';

/**
 * The page at `/` and at `basePath`: what this server is, its protocol, a curl line to try,
 * and the store's kind (its class name: never a URL, file or password).
 */
export class Landing {
  private readonly head: string;

  constructor(private readonly o: ResolvedOptions) {
    const base = o.basePath;
    this.head = [
      'Stowage Durable Streams server',
      '',
      'Protocol: Durable Streams over HTTP (https://github.com/durable-streams/durable-streams).',
      `Streams live under ${base}<name>: PUT creates, POST appends (Stream-Closed: true closes),`,
      'GET ?offset=-1 reads from the start (&live=long-poll or &live=sse follows), HEAD, DELETE.',
      `Store: ${storeKind(o.store)}`,
      '',
    ].join('\n');
  }

  /** GET/HEAD: the text; OPTIONS: 204 with `Allow`; anything else: 405 with `Allow`. */
  serve(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method;
    if (method === 'OPTIONS') {
      res.writeHead(204, preflightHeaders(this.o, ROOT_METHODS)).end();
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      sendMethodNotAllowed(
        this.o,
        req,
        res,
        ROOT_METHODS,
        `${method} needs a stream name: ${this.o.basePath}<name>; this path only describes the server`,
      );
      return;
    }
    const body = Buffer.from(
      `${this.head}Try: curl -X PUT -H 'Content-Type: text/plain' ${this.origin(req)}${encodePath(this.o.basePath)}hello\n`,
    );
    res
      .writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, 'Cache-Control': 'no-cache' })
      .end(method === 'HEAD' ? undefined : body);
  }

  /** The origin the client addressed when it names a usable one (see `requestOrigin`), else the socket's address. */
  private origin(req: IncomingMessage): string {
    const addressed = requestOrigin(req);
    if (addressed !== undefined) return addressed;
    const scheme = (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
    const address = req.socket.localAddress ?? '127.0.0.1';
    return `${scheme}://${address.includes(':') ? `[${address}]` : address}:${req.socket.localPort ?? ''}`;
  }
}

/** The store's class name, e.g. `SqliteStreamStore`. */
function storeKind(store: StreamStore): string {
  const name = (store as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name.length > 0 && name !== 'Object' ? name : 'a custom StreamStore';
}
