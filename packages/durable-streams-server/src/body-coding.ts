import type { IncomingMessage } from 'node:http';
import type { Refusal } from './responses.js';

/**
 * What refuses a request for how its body is framed or coded, before its body is read:
 * - a transfer coding before `chunked` (`Transfer-Encoding: gzip, chunked`): 501 (RFC 9112
 *   section 6.1); Node takes only the chunked framing off, so the compressed bytes would be
 *   stored as the message;
 * - a content coding other than `identity` on a body (`Content-Encoding: gzip`): 415 (RFC 9110
 *   section 8.4.1); a stream stores the bytes a writer means, not a compressed form of them.
 * - a second `Host` header (RFC 9112 section 3.2), or `chunked` twice (section 7): 400.
 */
export function codingRefusal(req: IncomingMessage): Refusal | undefined {
  let hosts = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'host') hosts++;
  if (hosts > 1) return invalid('a request has one Host header (RFC 9112 section 3.2)');
  const te = req.headers['transfer-encoding'] ?? '';
  const codings = listOf(te);
  // Not chunked last: Node's parser refuses it (400, RFC 9112 section 6.3) as the body comes.
  if (codings.length > 1 && codings.at(-1) === 'chunked') {
    if (codings.indexOf('chunked') < codings.length - 1) return invalid('Transfer-Encoding names chunked twice (RFC 9112 section 7)');
    const message = `Transfer-Encoding: ${JSON.stringify(te.slice(0, 100))} is not supported: only chunked`;
    return { status: 501, code: 'NOT_IMPLEMENTED', message, logged: 'Transfer-Encoding: "…" is not supported' };
  }
  const ce = req.headers['content-encoding'];
  if (ce !== undefined && (req.method === 'PUT' || req.method === 'POST') && listOf(ce).some((c) => c !== 'identity')) {
    const message = `Content-Encoding: ${JSON.stringify(ce.slice(0, 100))} is not supported: send the body as it is (identity)`;
    return { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message, logged: 'Content-Encoding: "…" is not supported' };
  }
  return undefined;
}

/** A header's list, lower-case, without the empty elements a recipient ignores (RFC 9110 section 5.6.1). */
function listOf(value: string): string[] {
  return value
    .toLowerCase()
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
}

const invalid = (message: string): Refusal => ({ status: 400, code: 'INVALID_ARGUMENT', message, logged: message });
