import type { IncomingMessage } from 'node:http';
import { source } from './protocol.js';

/** A body over the limit is still read (and dropped) up to this factor, so the 413 arrives. */
const DRAIN_FACTOR = 4;

/**
 * The request body, at most `limit` bytes: larger is `PAYLOAD_TOO_LARGE`. A declared
 * Content-Length over the limit fails before reading. An oversized body is drained (up to
 * a bound) so the client gets the 413 instead of a reset connection. A client that hangs up
 * before the body ends gets `INVALID_ARGUMENT` (nothing is appended), never a promise that
 * waits forever.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  const tooLarge = () => source.error('PAYLOAD_TOO_LARGE', `the body exceeds the limit of ${limit} bytes`);
  const cut = () => source.error('INVALID_ARGUMENT', 'the client closed the request before its body ended');
  return new Promise<Buffer>((resolve, reject) => {
    // Gone before anything was read (the handler awaited the store first): 'close' has fired.
    if (req.destroyed) {
      reject(cut());
      return;
    }
    if (declared !== undefined && Number(declared) > limit) {
      drain(req, limit * DRAIN_FACTOR);
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (over) {
        if (size > limit * DRAIN_FACTOR) req.destroy();
        return;
      }
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => (over ? reject(tooLarge()) : resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))));
    // A request's 'error' is the client's hang-up ('aborted'), and 'close' after 'end' does
    // nothing (the promise is settled): either way, before 'end' the body was cut short.
    const gone = (): void => reject(over ? tooLarge() : cut());
    req.on('error', gone);
    req.on('close', gone);
  });
}

function drain(req: IncomingMessage, bound: number): void {
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > bound) req.destroy();
  });
  req.on('error', () => {});
  req.resume();
}
