import type { ServerResponse } from 'node:http';
import type { StoredResponse } from '@stowage/core';
import { headerNamesNow, outgoingHeaderLines, setByHandler, writtenHeaderLines } from './node-headers.js';
import type { HeaderLines } from './problem.js';

/** What the recorder hands over when the handler ends the response. */
export type Recorded = { kind: 'response'; response: StoredResponse } | { kind: 'too-large' };

/**
 * Records what a handler sends on a Node response, however it sends it: the status, the
 * header lines as Node writes them (`setHeader`, `writeHead` with an object, a flat array or
 * pairs, Express's `res.set` / `res.json`), and the body bytes (`write` chunks in any
 * encoding, `end`, streams piped in). When the handler ends the response, `onEnd` gets the
 * recording and the end reaches the client only after `onEnd` settles, so a retry that
 * follows the response finds it stored.
 *
 * A client that hangs up changes nothing here: the handler is still running, and what it
 * ends with is recorded all the same. Past `maxBytes` of body the bytes are dropped (the
 * response cannot be kept) and `onEnd` gets `too-large`.
 */
export function recordResponse(res: ServerResponse, maxBytes: number, onEnd: (recorded: Recorded) => Promise<void>): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let headers: HeaderLines | undefined;
  let ended = false;
  let finishing = false;
  /** The status of the head as written, once it is: a later `res.status()` changes nothing sent. */
  let headStatus: number | undefined;
  const { write, end, writeHead, setHeader, appendHeader, removeHeader } = res;

  const collect = (chunk: unknown, encoding: unknown): void => {
    if (chunk === undefined || chunk === null || typeof chunk === 'function' || size > maxBytes) return;
    let bytes: Buffer;
    if (typeof chunk === 'string') bytes = Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    else if (chunk instanceof Uint8Array)
      bytes = Buffer.from(chunk); // a copy: the caller may reuse its buffer
    else return; // Node rejects it
    size += bytes.byteLength;
    if (size > maxBytes) chunks.length = 0;
    else chunks.push(bytes);
  };

  // Between the handler's end and the real one (once stored), whatever else is answered (an
  // error handler after `res.json`, Express's own, a second `res.json`) is dropped, so the
  // client gets the first answer: a second answer used to go out first, and the held end then
  // wrote after it ('write after end', which ended the process). Not refused with Node's
  // ERR_HTTP_HEADERS_SENT: that error reaches Express's final handler, which then destroys the
  // socket before the held end is written.
  const holding = (): boolean => ended && !finishing;
  const unlessHolding = <F extends (...a: never[]) => unknown>(original: F): F =>
    ((...args: Parameters<F>) => (holding() ? res : original.apply(res, args))) as F;
  res.setHeader = unlessHolding(setHeader);
  res.appendHeader = unlessHolding(appendHeader);
  res.removeHeader = unlessHolding(removeHeader);

  // Node's own writes call this.writeHead(this.statusCode) too (the implicit head). What a
  // hook adds meanwhile is not the handler's: `compression()` adds `Content-Encoding: gzip`
  // to bytes recorded before it compressed them (the replay passes through it again).
  res.writeHead = ((...args: unknown[]) => {
    if (holding()) return res;
    const before = headers === undefined && !ended ? headerNamesNow(res) : undefined;
    const result = (writeHead as (...a: unknown[]) => ServerResponse).apply(res, args);
    headStatus ??= res.statusCode;
    if (before !== undefined) {
      const given = typeof args[1] === 'string' ? args[2] : args[1];
      headers = setByHandler(writtenHeaderLines(res, given), before, given);
    }
    return result;
  }) as typeof res.writeHead;

  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (ended) return afterEnd(rest, new WriteAfterEnd());
    collect(chunk, rest[0]);
    return (write as (...a: unknown[]) => boolean).call(res, chunk, ...rest);
  }) as typeof res.write;

  res.end = ((...args: unknown[]) => {
    if (ended) {
      afterEnd(args, undefined); // as Node ignores a second end
      return res;
    }
    ended = true;
    collect(args[0], args[1]);
    // Without an explicit writeHead (or after a hang-up, when Node skips it), the head Node
    // would write now is the progressive headers.
    const recorded: Recorded =
      size > maxBytes
        ? { kind: 'too-large' }
        : {
            kind: 'response',
            response: { status: headStatus ?? res.statusCode, headers: headers ?? outgoingHeaderLines(res), body: Buffer.concat(chunks) },
          };
    // The head is out already (written, piped, flushed): holding the end would keep nothing
    // back, and an error after it would have Express's final handler destroy the socket
    // before the end is written. It ends now; a retry meanwhile gets 409, then the replay.
    const headOut = res.headersSent;
    if (headOut) {
      finishing = true;
      (end as (...a: unknown[]) => ServerResponse).apply(res, args);
    }
    let stored: Promise<void>;
    try {
      stored = onEnd(recorded);
    } catch {
      stored = Promise.resolve(); // whatever happens, the response ends
    }
    if (headOut) {
      stored.catch(() => undefined); // onEnd reports its own failures
      return res;
    }
    const { statusCode, statusMessage } = res;
    const finish = () => {
      finishing = true;
      // What was recorded is what is sent, whatever was set since.
      res.statusCode = statusCode;
      res.statusMessage = statusMessage;
      (end as (...a: unknown[]) => ServerResponse).apply(res, args);
    };
    stored.then(finish, finish);
    return res;
  }) as typeof res.end;
}

class WriteAfterEnd extends Error {
  readonly code = 'ERR_STREAM_WRITE_AFTER_END';
  constructor() {
    super('write after end');
  }
}

/** A write or end after the end: its callback is told, and nothing reaches the client. */
function afterEnd(args: unknown[], err: Error | undefined): false {
  const callback = args.findLast((a) => typeof a === 'function') as ((err?: Error) => void) | undefined;
  if (callback !== undefined) process.nextTick(callback, err);
  return false;
}
