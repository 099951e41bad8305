import type { IncomingMessage } from 'node:http';
import { isIP, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { requestOrigin } from './origin.js';

/**
 * Whether `url` (an http or https URL) names this server, the way a client may write it:
 * - the host and port the request itself was sent to (its `Host`, or an absolute target);
 *   a port left out is the scheme's default (80, 443), and two URLs that both leave it out
 *   match whatever their schemes (a TLS proxy in front: `https://` outside, `http` here);
 * - or, on the port the request came in on, an IP address this server listens on (that of
 *   the connection; any address of this machine when it listens on `0.0.0.0` or `::`), or
 *   `localhost` when it listens on a loopback address or on every address.
 * Nothing is looked up (no DNS) and nothing is connected to: another name of this machine
 * counts only as the request's own host.
 */
export function namesThisServer(url: URL, req: IncomingMessage): boolean {
  const own = requestOrigin(req);
  if (own !== undefined && sameHostAndPort(url, new URL(own))) return true;
  const socket = req.socket as (IncomingMessage['socket'] & { server?: unknown }) | null;
  if (socket === null || socket === undefined || socket.localPort === undefined || portOf(url) !== socket.localPort) return false;
  const local = ipOf(socket.localAddress ?? '');
  const bound = boundAddress(socket.server);
  const everyAddress = bound === '0.0.0.0' || bound === '::';
  const ip = ipOf(url.hostname);
  if (ip === undefined) return url.hostname === 'localhost' && (everyAddress || (local !== undefined && isLoopback(local)));
  if (ip === local) return true;
  if (!everyAddress) return false;
  // `0.0.0.0` is every IPv4 address; `::` every address (Node listens dual-stack there).
  if (bound === '0.0.0.0' && isIP(ip) !== 4) return false;
  return isLoopback(ip) || machineAddresses().has(ip);
}

const portOf = (u: URL): number => (u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port));

function sameHostAndPort(a: URL, b: URL): boolean {
  if ((ipOf(a.hostname) ?? a.hostname) !== (ipOf(b.hostname) ?? b.hostname)) return false;
  return (a.port === '' && b.port === '') || portOf(a) === portOf(b);
}

/**
 * `host` (a URL's hostname, brackets and all, or a socket's address) as one spelling of its
 * IP address: IPv6 in the URL's canonical form, an IPv4-mapped IPv6 address as IPv4;
 * `undefined` for a name.
 */
function ipOf(host: string): string | undefined {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const family = isIP(bare);
  if (family === 4) return bare;
  if (family !== 6) return undefined;
  const v6 = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (mapped === null) return v6;
  const [hi, lo] = [Number.parseInt(mapped[1]!, 16), Number.parseInt(mapped[2]!, 16)];
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

const isLoopback = (ip: string): boolean => ip === '::1' || ip.startsWith('127.');

/** The address the connection's server listens on (`0.0.0.0`, `::`, or one address), when it says. */
function boundAddress(server: unknown): string | undefined {
  const address = typeof (server as Server | undefined)?.address === 'function' ? (server as Server).address() : null;
  return typeof address === 'object' && address !== null ? address.address : undefined;
}

/** Every address of this machine's network interfaces (read from the system, not looked up). */
function machineAddresses(): Set<string> {
  const out = new Set<string>();
  try {
    for (const list of Object.values(networkInterfaces())) {
      for (const entry of list ?? []) {
        const ip = ipOf(entry.address);
        if (ip !== undefined) out.add(ip);
      }
    }
  } catch {
    // No interfaces to read: only the connection's own address counts.
  }
  return out;
}
