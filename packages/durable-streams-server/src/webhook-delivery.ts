import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { CheckedWebhookUrl } from './webhook-address.js';
import { type LookupAll, pinnedLookup, resolveWebhookHost, systemLookup } from './webhook-resolve.js';

/** What a webhook POST came to: the outcome the store is told, and why, for the log. */
export interface DeliveryResult {
  outcome: 'done' | 'accepted' | 'failed';
  /** The receiver's status, when it answered. */
  status?: number;
  /** Why it failed (refused target, network error, timeout, non-2xx). */
  reason?: string;
}

export interface WebhookPost {
  target: CheckedWebhookUrl;
  body: string;
  /** The `webhook-signature` header. */
  signature: string;
  timeoutMs: number;
  /** Aborts the POST early (the server is closing). */
  signal?: AbortSignal;
  lookup?: LookupAll;
}

/** Most bytes of a receiver's answer read (it only has to say `{"done": true}`). */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * POSTs one wake to its receiver, over a connection to the address checked at this moment
 * (see `resolveWebhookHost`): no redirect is followed, nothing outlasts `timeoutMs` (the name
 * lookup included), and every failure is a result, never a rejection. A 2xx whose JSON body
 * says `"done": true` is `done`; any other 2xx is `accepted`; the rest is `failed`.
 */
export async function postWebhook(p: WebhookPost): Promise<DeliveryResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`no answer within ${p.timeoutMs} ms`)), p.timeoutMs);
  const onClose = (): void => controller.abort(new Error('the server is closing'));
  p.signal?.addEventListener('abort', onClose, { once: true });
  try {
    if (p.signal?.aborted) onClose();
    return await attempt(p, controller.signal);
  } catch (err) {
    const why = controller.signal.aborted ? controller.signal.reason : err;
    return { outcome: 'failed', reason: why instanceof Error ? why.message : String(why) };
  } finally {
    clearTimeout(timer);
    p.signal?.removeEventListener('abort', onClose);
  }
}

async function attempt(p: WebhookPost, signal: AbortSignal): Promise<DeliveryResult> {
  const { url, host, allowed } = p.target;
  const address = await abortable(resolveWebhookHost(host, allowed, p.lookup ?? systemLookup), signal);
  const body = Buffer.from(p.body, 'utf8');
  const secure = url.protocol === 'https:';
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)(
      {
        method: 'POST',
        host,
        port: url.port === '' ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        headers: {
          'content-type': 'application/json',
          'content-length': body.length,
          'webhook-signature': p.signature,
          'user-agent': 'stowage-durable-streams',
          // The URL's own host (an allowed name or the literal), as a client that resolved it would send.
          host: url.host,
        },
        // The address just checked, whatever a second resolution would say.
        lookup: pinnedLookup(address) as never,
        // A connection of its own: no pooled socket, and nothing left open after the answer.
        agent: false,
        signal,
      },
      resolve,
    );
    req.on('error', reject);
    req.end(body);
  });
  const status = res.statusCode ?? 0;
  const answer = await readAnswer(res, signal);
  if (status < 200 || status > 299) return { outcome: 'failed', status, reason: `the receiver answered ${status}` };
  return { outcome: doneIn(answer) ? 'done' : 'accepted', status };
}

function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The answer's body, at most `MAX_ANSWER_BYTES` (the rest is dropped with the connection). */
function readAnswer(res: IncomingMessage, signal: AbortSignal): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      if (size >= MAX_ANSWER_BYTES) return;
      chunks.push(chunk);
      size += chunk.length;
      if (size >= MAX_ANSWER_BYTES) {
        resolve(Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES));
        res.destroy();
      }
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', (err) => reject(signal.aborted ? signal.reason : err));
    res.on('close', () => {
      if (!res.complete && size < MAX_ANSWER_BYTES) reject(signal.aborted ? signal.reason : new Error('the answer was cut short'));
    });
  });
}

function doneIn(answer: Buffer): boolean {
  try {
    const value = JSON.parse(answer.toString('utf8')) as unknown;
    return value !== null && typeof value === 'object' && (value as { done?: unknown }).done === true;
  } catch {
    return false;
  }
}
