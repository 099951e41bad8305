import { createServer, type IncomingMessage, maxHeaderSize, type Server, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import { codingRefusal } from './body-coding.js';
import { backgroundSettled, createStreamsHandler, listeningAt, refuseOn, type StreamsRequestHandler } from './handler.js';
import { resolveOptions, type StreamsServerOptions } from './options.js';
import { logLine, METHODS, rawErrorAnswer } from './responses.js';

export interface StreamsServer {
  /** The `node:http` server. */
  readonly server: Server;
  /** Its request listener, also usable on a server of your own. */
  readonly handler: StreamsRequestHandler;
  /** Starts listening; resolves to the base URL, e.g. `http://127.0.0.1:4437`. @default port 4437, host 127.0.0.1 */
  listen(port?: number, host?: string): Promise<string>;
  /**
   * Stops accepting connections, ends live reads, lets in-flight requests finish (cut after
   * `graceMs`); with subscriptions, stops their background work and waits for it to end. The
   * stores are left open: they belong to the caller.
   */
  close(graceMs?: number): Promise<void>;
  /** See {@link StreamsRequestHandler.rotateSigningKey}. */
  rotateSigningKey(): Promise<string>;
}

/** The Durable Streams protocol on a `node:http` server of its own. */
export function createStreamsServer(options: StreamsServerOptions): StreamsServer {
  const handler = createStreamsHandler(options);
  const { maxBodyBytes, log, logger, requestTimeoutMs, headersTimeoutMs } = resolveOptions(options);
  // A client that stalls mid-head or mid-body is answered 408 (see 'clientError') once these
  // pass; Node looks for such clients every `connectionsCheckingInterval` (30 s by default,
  // which would let a 20 s limit run to 50 s): a quarter of the head's limit, 50 ms to 5 s.
  const server = createServer(
    {
      requestTimeout: requestTimeoutMs,
      headersTimeout: headersTimeoutMs,
      connectionsCheckingInterval: Math.min(5000, Math.max(50, Math.round(headersTimeoutMs / 4))),
      // Node answers an HTTP/1.1 request without Host 400 itself, with no body and no line:
      // the handler answers it instead, in the protocol's terms (so does 'checkExpectation').
      requireHostHeader: false,
    },
    (req, res) => handler(req, res),
  );
  const connections = new Connections(server);
  // `Expect: 100-continue`: Node would send `100 Continue` to every such request, inviting a
  // body the handler then refuses. A declared length over the limit gets its 413 (from the
  // handler, which sees the same length) without the invitation, so does a body the handler
  // refuses for its coding (see body-coding.ts); the rest are invited as usual.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const declared = req.headers['content-length'];
    if ((declared === undefined || !(Number(declared) > maxBodyBytes)) && codingRefusal(req) === undefined) res.writeContinue();
    connections.request(req, res);
    handler(req, res);
  });
  // An `Expect` other than 100-continue: Node would answer 417 with no body and no line.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    connections.request(req, res);
    handler(req, res);
  });
  // Requests Node cannot parse (malformed headers or chunking, an oversized header block)
  // never reach the handler, or reach it and then fail mid-body: answer them here, in their
  // place among the connection's requests (never inside the response of an earlier one), log
  // one line, keep serving. A client that closed its side mid-request (EOF) cannot be
  // answered; when its request had reached the handler, the handler logs its one line.
  const refused = new WeakSet<Socket>();
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
      socket.destroy();
      return;
    }
    // The parser stays in error: bytes after the first error add no line.
    if (refused.has(socket)) return;
    refused.add(socket);
    const { status, reason, code, message } = parseRefusal(err, server);
    log({ status, code: err.code ?? 'CLIENT_ERROR', message: err.message.replace(/[\r\n]+/g, ' ').slice(0, 512), method: '-', path: '-' });
    refuseOn(handler, socket, status, (method) => rawErrorAnswer(method, status, reason, { code, message }), methodOf(err, socket));
  });
  // CONNECT asks for a tunnel, which this server does not make. Node hands it over as a bare
  // socket (and would close it without a word if nobody listened): answer 405 like any other
  // method the protocol does not have.
  server.on('connect', (req: IncomingMessage, socket: Socket) => {
    const message = 'CONNECT is not a method of the Durable Streams protocol: this server makes no tunnels';
    log(logLine(req, 405, 'METHOD_NOT_ALLOWED', message));
    socket.on('error', () => {});
    // In its turn: after the answers to requests pipelined before it.
    const error = { code: 'METHOD_NOT_ALLOWED', message: `${message} (allowed: ${METHODS})` };
    refuseOn(handler, socket, 405, () => rawErrorAnswer('CONNECT', 405, 'Method Not Allowed', error, `Allow: ${METHODS}\r\n`));
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
          const url = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
          listeningAt(handler, url);
          resolve(url);
        });
      });
    },
    rotateSigningKey: () => handler.rotateSigningKey(),
    close(graceMs = 5000) {
      handler.close();
      const closed = new Promise<void>((resolve) => {
        if (!server.listening) {
          resolve();
          return;
        }
        const cut = setTimeout(() => {
          // Their requests' lines may say complete (the data was handed to the socket): say what was cut.
          const n = connections.cut();
          if (n > 0) logger.warn({ connections: n }, `shutdown: ${n} connection(s) still busy after ${graceMs} ms were cut`);
        }, graceMs);
        cut.unref();
        // Not http's server.close(): it destroys every idle connection, and a connection is
        // idle once its response has ended, even with the response's last megabytes still
        // waiting to be sent (a 16 MiB read was cut at 6 to 8 MB). The listener stops; each
        // connection ends (its data sent first) once its requests are done.
        net.Server.prototype.close.call(server, () => {
          clearTimeout(cut);
          // Every connection is gone: http's close() now only stops its timeout checks.
          server.close(() => resolve());
        });
        connections.closing();
      });
      // Requests that ended during the grace time may have started announcements: wait for them too.
      return closed.then(() => backgroundSettled(handler));
    },
  };
}

/**
 * The server's connections and how many requests each has under way, so that on close each
 * ends (`end()`: what was written is sent first) once it has none, rather than being destroyed.
 */
class Connections {
  private readonly active = new Map<Socket, number>();
  private ending = false;

  constructor(server: Server) {
    server.on('connection', (socket: Socket) => {
      this.active.set(socket, 0);
      socket.once('close', () => this.active.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.request(req, res));
  }

  /** A request on its connection: counted until its response closes. */
  request(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    if (!this.active.has(socket)) return;
    this.active.set(socket, this.active.get(socket)! + 1);
    res.once('close', () => {
      const held = this.active.get(socket);
      if (held === undefined) return; // the connection closed first
      this.active.set(socket, held - 1);
      if (this.ending && held === 1) socket.end();
    });
  }

  /** From now on: idle connections end now, the others as their last request is done. */
  closing(): void {
    this.ending = true;
    for (const [socket, requests] of this.active) if (requests === 0) socket.end();
  }

  /** The grace time is over: every connection is cut. */
  /** How many it cut. */
  cut(): number {
    const n = this.active.size;
    for (const socket of this.active.keys()) socket.destroy();
    return n;
  }
}

/** What a request Node's parser refused is answered, in the protocol's terms rather than the parser's codes. */
function parseRefusal(err: NodeJS.ErrnoException, server: Server): { status: number; reason: string; code: string; message: string } {
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    return {
      status: 431,
      reason: 'Request Header Fields Too Large',
      code: 'HEADERS_TOO_LARGE',
      message: `the request line and headers are over ${maxHeaderSize} bytes, the most this server reads (a stream name or offset that long does not fit)`,
    };
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      status: 408,
      reason: 'Request Timeout',
      code: 'REQUEST_TIMEOUT',
      message: `the request did not arrive whole in time (head within ${server.headersTimeout} ms, all of it within ${server.requestTimeout} ms)`,
    };
  }
  // Node's parser says what it could not read: "Parse Error: Invalid header value char".
  const what = (
    err.message
      .replace(/^Parse Error:\s*/, '')
      .replace(/[\r\n]+/g, ' ')
      .trim() || 'unreadable'
  ).slice(0, 200);
  return { status: 400, reason: 'Bad Request', code: 'BAD_REQUEST', message: `malformed HTTP request: ${what}` };
}

/**
 * The method of a request Node's parser refused before any of it reached the handler, when
 * that is certain: the bytes it failed on are all the connection has received, so the request
 * is its first and began with them. Otherwise (a head that came in several reads, a request
 * after others) they may begin anywhere in it, and the method is not known.
 */
function methodOf(err: NodeJS.ErrnoException, socket: Socket): string | undefined {
  const packet = (err as { rawPacket?: unknown }).rawPacket;
  if (!Buffer.isBuffer(packet) || socket.bytesRead !== packet.length) return undefined;
  return /^([A-Z]{3,10}) (?:\/|\*|https?:\/\/)/.exec(packet.toString('latin1', 0, 24))?.[1];
}
