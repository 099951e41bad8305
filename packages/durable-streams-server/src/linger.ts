import type { IncomingMessage, ServerResponse } from 'node:http';
import { answeredRaw } from './raw-answer.js';

/** How long a connection closed after an early answer keeps reading (and dropping) the client's body. */
const LINGER_MS = 30_000;

/**
 * An answer (a 413) sent while the client is still sending its request body, which the body
 * reader goes on reading and dropping. Ending the response would make Node destroy the socket
 * at once (`Connection: close`), and a client still sending would get a reset instead of the
 * answer (RFC 9112 section 9.6). So the answer is written whole (its Content-Length makes it
 * complete on the wire), this side of the connection is closed (FIN), and the connection
 * closes fully when the client stops sending, or is cut after `LINGER_MS` (nginx's
 * `lingering_time`). The response then emits 'close', not 'finish'. Requests that come
 * after it on the connection are not run (see `ConnectionOrder`).
 */
export function answerThenLinger(req: IncomingMessage, res: ServerResponse, body: string | undefined): void {
  const socket = req.socket;
  // Whatever answered early (a 413, 415, 417, 501), the body still coming is read and dropped.
  req.on('error', () => {});
  req.resume();
  if (body !== undefined) res.write(body);
  else res.flushHeaders();
  // Complete on the wire, though the response object never finishes: its access line and span say so.
  answeredRaw(res, res.statusCode);
  socket.end();
  if (socket.destroyed) return; // the client is gone already: nothing to wait for
  const cut = setTimeout(() => socket.destroy(), LINGER_MS).unref();
  socket.once('close', () => clearTimeout(cut));
}
