import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** One request of a connection, and how to start serving it. */
interface Request {
  req: IncomingMessage;
  res: ServerResponse;
  serve: () => void;
}

/** The request running on a connection, and what waits behind it. */
interface Turn {
  req: IncomingMessage;
  res: ServerResponse;
  /** Requests pipelined behind this one, in arrival order; `undefined` while none. */
  waiting: Request[] | undefined;
  /** The raw answer owed to a request the server answers itself, sent once every earlier one is answered. */
  refusal: string | undefined;
}

/**
 * Runs the requests of one connection one after another. Node's HTTP server emits 'request'
 * for each pipelined request as soon as it parses it, so without this a PUT, POSTs and a GET
 * sent back to back on one connection would run at once: appends in any order, a GET that
 * misses the write before it. RFC 9112 §9.3.2 allows that only when every request is safe;
 * ordering them all is simpler and costs a pipelining client nothing (its responses go out
 * in order anyway). A request starts once the previous one's response has closed (finished,
 * or cut because the client left).
 *
 * Cheap on the usual connection (one request at a time): a map lookup, one entry and one
 * 'close' listener per request; an array only for a request that has to wait. The map is
 * weak, and an entry leaves it as its connection's last response closes, so nothing is kept
 * for a connection that is gone.
 */
export class ConnectionOrder {
  private readonly turns = new WeakMap<Socket, Turn>();
  /** Connections whose last request was answered before its body had all come (a HEAD or an error answered early). */
  private readonly bodiesLeft = new WeakSet<Socket>();

  /** Runs `serve` now, or once the requests before it on its connection are answered. */
  serveInOrder(req: IncomingMessage, res: ServerResponse, serve: () => void): void {
    const socket = req.socket as Socket | null;
    // Not a connection of node:http's HTTP/1 server (a test harness, HTTP/2 compatibility): nothing to order.
    if (socket === null || socket === undefined) {
      serve();
      return;
    }
    // The connection can no longer carry an answer (closed after a 413, or the client's
    // half-close that Node answers by ending it): nothing to run the request for.
    if (!socket.writable) {
      res.destroy();
      return;
    }
    const turn = this.turns.get(socket);
    if (turn === undefined) {
      this.start(socket, { req, res, serve }, undefined, undefined);
      return;
    }
    // The same request again (this handler mounted twice, the first passing it to `next`) is
    // the running one, not one behind it.
    if (turn.req === req) {
      serve();
      return;
    }
    (turn.waiting ??= []).push({ req, res, serve });
  }

  /**
   * The server answers the rest of `socket` itself, with `answer` (a complete raw response)
   * that ends the connection: Node could not parse a request there (malformed chunking, a bad
   * header line), or it was a CONNECT. The answer goes out after every request before the one
   * in error. Returns the running request's response when the error is in its own body (it is
   * answered now, or cut if its response has begun), so its handler does not answer or log it
   * again; `undefined` when the answer is sent now (nothing of ours runs there) or queued.
   * `answer` is given the method of the request in error where it is known (the running
   * request's, or `firstMethod` when no request runs on the connection), since an answer to
   * HEAD has no body.
   */
  refuse(socket: Socket, answer: (method: string | undefined) => string, firstMethod?: string): ServerResponse | undefined {
    const turn = this.turns.get(socket);
    if (turn === undefined) {
      // The error is in the rest of a body whose request was answered: a second answer would
      // be one no request asked for. Close the connection.
      if (this.bodiesLeft.has(socket)) socket.destroy();
      else endWith(socket, answer(firstMethod));
      return undefined;
    }
    if (!turn.req.complete) {
      if (turn.res.headersSent) socket.destroy();
      else endWith(socket, answer(turn.req.method));
      return turn.res;
    }
    // A request pipelined behind the running one: where it starts is not known here.
    turn.refusal = answer(undefined);
    return undefined;
  }

  private start(socket: Socket, next: Request, waiting: Request[] | undefined, refusal: string | undefined): void {
    this.turns.set(socket, { req: next.req, res: next.res, waiting, refusal });
    next.res.once('close', () => this.next(socket));
    next.serve();
  }

  private next(socket: Socket): void {
    const turn = this.turns.get(socket)!;
    const following = turn.waiting?.shift();
    // A connection that can no longer carry an answer (the client closed it or half-closed
    // it, or it was closed after a 413): the requests still waiting on it are dropped (none
    // has started, so none has changed anything).
    if (!socket.writable) {
      this.turns.delete(socket);
      return;
    }
    // The request the server answers itself is next: its answer ends the connection. (One
    // whose body never completes is that request, never one to run: its body would never end.)
    if (turn.refusal !== undefined && (following === undefined || !following.req.complete)) {
      this.turns.delete(socket);
      endWith(socket, turn.refusal);
      return;
    }
    if (following === undefined) {
      this.turns.delete(socket);
      if (!turn.req.complete) {
        this.bodiesLeft.add(socket);
        turn.req.once('end', () => this.bodiesLeft.delete(socket));
      }
      return;
    }
    this.start(socket, following, turn.waiting, turn.refusal);
  }
}

/** Writes a raw answer and closes the connection once it is written. */
function endWith(socket: Socket, answer: string): void {
  socket.end(answer);
  socket.destroySoon();
}
