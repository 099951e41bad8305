import { createPublicKey, verify } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the receiver answers one delivery: a status and JSON body, or never (`hang`). */
export type Answer = { status: number; body?: unknown } | 'hang';

export interface Delivery {
  at: number;
  raw: string;
  body: {
    subscription_id: string;
    wake_id: string;
    generation: number;
    streams: Array<{ path: string; link_type: string; acked_offset: string; tail_offset: string; has_pending: boolean }>;
    callback_url: string;
    callback_token: string;
  };
  signature: string | undefined;
  /** Set when the server closed the connection before an answer (a timeout). */
  cutAt?: number;
}

/**
 * A webhook receiver on 127.0.0.1 (the only address tests connect to). Answers each delivery
 * from `script` in turn (the last entry repeats); records every delivery.
 */
export class Receiver {
  readonly deliveries: Delivery[] = [];
  private readonly server: Server;
  private readonly waiters: Array<() => void> = [];
  private readonly held = new Set<ServerResponse>();

  private constructor(private readonly script: Answer[]) {
    this.server = createServer((req, res) => this.receive(req, res));
  }

  static async start(script: Answer[] = [{ status: 200, body: {} }]): Promise<Receiver> {
    const r = new Receiver(script);
    await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve));
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  private receive(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const signature = req.headers['webhook-signature'];
      const delivery: Delivery = {
        at: Date.now(),
        raw,
        body: JSON.parse(raw),
        signature: typeof signature === 'string' ? signature : undefined,
      };
      const answer = this.script[Math.min(this.deliveries.length, this.script.length - 1)]!;
      this.deliveries.push(delivery);
      res.on('close', () => {
        if (!res.writableEnded) delivery.cutAt = Date.now();
        this.held.delete(res);
        this.wake();
      });
      if (answer === 'hang') this.held.add(res);
      else res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body ?? {}));
      this.wake();
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves when `predicate` holds (checked on every delivery and every cut connection). */
  async until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline)
        throw new Error(`receiver: condition not met within ${timeoutMs} ms (${this.deliveries.length} deliveries)`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  async close(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface Jwks {
  keys: Array<{ kty: string; crv: string; x: string; kid: string; alg: string; use: string }>;
}

/** Verifies a `webhook-signature` header against a JWKS, as a receiver does. */
export function verifySignature(raw: string, header: string | undefined, jwks: Jwks): boolean {
  const m = header === undefined ? null : /^t=(\d+),kid=([^,]+),ed25519=([A-Za-z0-9_-]+)$/.exec(header);
  if (m === null) return false;
  const [, t, kid, sig] = m;
  const jwk = jwks.keys.find((k) => k.kid === kid);
  if (jwk === undefined) return false;
  const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: 'jwk' });
  return verify(null, Buffer.from(`${t}.${raw}`), key, Buffer.from(sig!, 'base64url'));
}

/** The key id a signature header names. */
export const kidOf = (header: string | undefined): string | undefined => /kid=([^,]+)/.exec(header ?? '')?.[1];
