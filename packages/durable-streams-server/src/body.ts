import type { IncomingMessage } from 'node:http';
import { source } from './protocol.js';

/**
 * The request body, at most `limit` bytes: larger is `PAYLOAD_TOO_LARGE`, as soon as the
 * declared Content-Length or the bytes received so far (chunked) say so, without waiting for
 * the rest. The rest is read and dropped while the 413 goes out and the connection closes
 * (see `answerThenLinger`), so a client still sending gets the 413 instead of a reset. A client
 * that hangs up before the body ends gets `INVALID_ARGUMENT` (nothing is appended), never a
 * promise that waits forever.
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
      drop(req);
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      chunks.length = 0;
      req.off('data', onData);
      drop(req);
      reject(tooLarge());
    };
    let ended = false;
    req.on('data', onData);
    req.on('end', () => {
      ended = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    // A request's 'error' is the client's hang-up ('aborted'), and 'close' after 'end' (or
    // after a 413) does nothing (the promise is settled): before that, the body was cut short.
    // Not made after 'end': an error's stack costs more than the rest of a small append's reading.
    const gone = (): void => {
      if (!ended) reject(cut());
    };
    req.on('error', gone);
    req.on('close', gone);
  });
}

/** Reads and drops the rest of a body over the limit, however long it is. */
function drop(req: IncomingMessage): void {
  req.on('error', () => {});
  req.resume();
}
