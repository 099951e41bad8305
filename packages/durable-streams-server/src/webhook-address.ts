import { isIPv4, isIPv6 } from 'node:net';

/**
 * Which webhook targets are refused (server-side request forgery): every address that is not
 * a public unicast address, and host names that only make sense inside a network. Pure logic:
 * nothing here resolves a name or connects (see `webhook-resolve.ts` for delivery time).
 */

/** An IPv4 range: first address (as an unsigned 32-bit number), prefix length, why it is refused. */
type V4Range = readonly [base: number, prefix: number, why: string];

const v4 = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

const V4_REFUSED: readonly V4Range[] = [
  [v4(0, 0, 0, 0), 8, 'an unspecified ("this network") address'],
  [v4(10, 0, 0, 0), 8, 'a private address'],
  [v4(100, 64, 0, 0), 10, 'a shared (carrier-grade NAT) address'],
  [v4(127, 0, 0, 0), 8, 'a loopback address'],
  [v4(169, 254, 0, 0), 16, 'a link-local address'],
  [v4(172, 16, 0, 0), 12, 'a private address'],
  [v4(192, 0, 0, 0), 24, 'an IETF protocol assignment'],
  [v4(192, 0, 2, 0), 24, 'a documentation address'],
  [v4(192, 88, 99, 0), 24, 'a 6to4 relay anycast address'],
  [v4(192, 168, 0, 0), 16, 'a private address'],
  [v4(198, 18, 0, 0), 15, 'a benchmarking address'],
  [v4(198, 51, 100, 0), 24, 'a documentation address'],
  [v4(203, 0, 113, 0), 24, 'a documentation address'],
  [v4(224, 0, 0, 0), 4, 'a multicast address'],
  [v4(240, 0, 0, 0), 4, 'a reserved or broadcast address'],
];

function inV4(address: number, base: number, prefix: number): boolean {
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  return (address & mask) >>> 0 === base;
}

/** A dotted-quad IPv4 address as a number, `undefined` for anything else. */
function parseIPv4(text: string): number | undefined {
  if (!isIPv4(text)) return undefined;
  const [a, b, c, d] = text.split('.').map(Number) as [number, number, number, number];
  return v4(a, b, c, d);
}

function refusedV4(address: number): string | undefined {
  for (const [base, prefix, why] of V4_REFUSED) if (inV4(address, base, prefix)) return why;
  return undefined;
}

/** An IPv6 address as its eight 16-bit groups (a zone id is ignored), `undefined` for anything else. */
export function parseIPv6(text: string): number[] | undefined {
  const address = text.replace(/%.*$/, '');
  if (!isIPv6(address)) return undefined;
  let body = address;
  const tail: number[] = [];
  const lastColon = body.lastIndexOf(':');
  const dotted = body.slice(lastColon + 1);
  if (dotted.includes('.')) {
    const n = parseIPv4(dotted);
    if (n === undefined) return undefined;
    tail.push(n >>> 16, n & 0xffff);
    body = body.slice(0, lastColon + 1);
    // `::1.2.3.4` leaves `::`; `a::1.2.3.4` leaves `a::`; `a:b:...:1.2.3.4` leaves `...:`.
    if (body.endsWith(':') && !body.endsWith('::')) body = body.slice(0, -1);
  }
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const gap = body.indexOf('::');
  let out: number[];
  if (gap < 0) {
    out = [...groups(body), ...tail];
  } else {
    const head = groups(body.slice(0, gap));
    const rest = [...groups(body.slice(gap + 2)), ...tail];
    out = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  }
  return out.length === 8 ? out : undefined;
}

function refusedV6(g: number[]): string | undefined {
  const zeroUpTo = (n: number): boolean => g.slice(0, n).every((x) => x === 0);
  const embedded = (hi: number, lo: number): number => ((hi << 16) | lo) >>> 0;
  if (zeroUpTo(8)) return 'an unspecified address';
  if (zeroUpTo(7) && g[7] === 1) return 'a loopback address';
  if (zeroUpTo(5) && g[5] === 0xffff) return 'an IPv4-mapped IPv6 address';
  if (zeroUpTo(4) && g[4] === 0xffff && g[5] === 0) return 'an IPv4-translated IPv6 address';
  if (zeroUpTo(6)) return 'an IPv4-compatible IPv6 address';
  // NAT64 (RFC 6052): the gateway connects to the IPv4 address inside.
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) {
    const inner = refusedV4(embedded(g[6]!, g[7]!));
    return inner === undefined ? undefined : `a NAT64 address of ${inner}`;
  }
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return 'a local-use NAT64 address';
  if (g[0] === 0x100 && g.slice(1, 4).every((x) => x === 0)) return 'a discard-only address';
  if (g[0] === 0x2001 && g[1] === 0xdb8) return 'a documentation address';
  if (g[0] === 0x2001 && g[1]! < 0x200) return 'an IETF protocol assignment (Teredo, ORCHID, benchmarking)';
  // 6to4 (RFC 3056): the relay connects to the IPv4 address inside.
  if (g[0] === 0x2002) {
    const inner = refusedV4(embedded(g[1]!, g[2]!));
    return inner === undefined ? undefined : `a 6to4 address of ${inner}`;
  }
  if (g[0] === 0x3fff && g[1]! < 0x1000) return 'a documentation address';
  if ((g[0]! & 0xfe00) === 0xfc00) return 'a unique-local address';
  if ((g[0]! & 0xffc0) === 0xfe80) return 'a link-local address';
  if ((g[0]! & 0xffc0) === 0xfec0) return 'a site-local address';
  if (g[0]! >> 8 === 0xff) return 'a multicast address';
  if ((g[0]! & 0xe000) !== 0x2000) return 'not a global unicast address';
  return undefined;
}

/**
 * Why a webhook may not connect to `address` (an IPv4 or IPv6 literal, as `dns.lookup` gives
 * it), or `undefined` when it is a public unicast address. Anything that is not an address
 * literal is refused too.
 */
export function refusedAddress(address: string): string | undefined {
  const a4 = parseIPv4(address);
  if (a4 !== undefined) return refusedV4(a4);
  const a6 = parseIPv6(address);
  if (a6 !== undefined) return refusedV6(a6);
  return 'not an IP address';
}

/** Names that resolve inside the network they are asked in (RFC 6761, 6762, 8375, and `.internal`). */
const LOCAL_SUFFIXES = ['.localhost', '.local', '.internal', '.home.arpa'];

/** Why a webhook may not name the host `name` (a DNS name, not an address), or `undefined`. */
export function refusedHostName(name: string): string | undefined {
  const host = canonicalHost(name);
  if (host.length === 0) return 'an empty host name';
  if (host === 'localhost' || host === 'localhost.localdomain') return 'a localhost name';
  const suffix = LOCAL_SUFFIXES.find((s) => host.endsWith(s) || host === s.slice(1));
  if (suffix !== undefined) return `a local-network name (*${suffix})`;
  return undefined;
}

/**
 * A host as allow lists compare it: lower case, without IPv6 brackets or trailing dots, and
 * an IP literal in its canonical form (`0x7f.1` is `127.0.0.1`, `[::FFFF:a00:1]` is `::ffff:a00:1`).
 */
export function canonicalHost(host: string): string {
  let h = host.trim().toLowerCase().replace(/\.+$/, '');
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (isIPv6(h)) {
    try {
      return new URL(`http://[${h}]/`).hostname.slice(1, -1);
    } catch {
      return h;
    }
  }
  return h;
}

/** A webhook URL that passed the checks: `host` canonical (see `canonicalHost`). */
export interface CheckedWebhookUrl {
  url: URL;
  host: string;
  /** The host is on the allow list: no address rule applies to it. */
  allowed: boolean;
}

/** Longest webhook URL accepted (the store's limit). */
export const MAX_WEBHOOK_URL_LENGTH = 2048;

/**
 * Checks a webhook URL before anything connects to it: `http:` or `https:`, no user name or
 * password, and a host that is neither a refused address nor a local name, unless it is in
 * `allowHosts` (canonical hosts, exact match). The URL parser normalizes odd IPv4 notations
 * first (`0x7f.1`, `2130706433`, `127.1` are all `127.0.0.1`), so they meet the same rules.
 * A DNS name passes here; its addresses are checked when a delivery resolves it.
 */
export function checkWebhookUrl(raw: string, allowHosts: ReadonlySet<string>): CheckedWebhookUrl | { refused: string } {
  if (raw.length > MAX_WEBHOOK_URL_LENGTH) return { refused: `webhook.url is longer than ${MAX_WEBHOOK_URL_LENGTH} characters` };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { refused: 'webhook.url is not a valid absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { refused: 'webhook.url must use http or https' };
  if (url.username !== '' || url.password !== '') return { refused: 'webhook.url must not carry a user name or password' };
  const host = canonicalHost(url.hostname);
  if (allowHosts.has(host)) return { url, host, allowed: true };
  const why = isIPv4(host) || isIPv6(host) ? refusedAddress(host) : refusedHostName(host);
  if (why !== undefined) return { refused: `webhook.url must not target ${host}: ${why}` };
  return { url, host, allowed: false };
}
