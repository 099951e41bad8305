import { promises as dns } from 'node:dns';
import type { LookupAddress } from 'node:dns';
import { isIPv4, isIPv6 } from 'node:net';
import { refusedAddress, refusedHostName } from './webhook-address.js';

/** `dns.promises.lookup` with `all: true`: every address of a name. Injected by tests. */
export type LookupAll = (hostname: string, options: { all: true }) => Promise<LookupAddress[]>;

/** The system resolver (the one `http.request` would use). */
export const systemLookup: LookupAll = (hostname, options) => dns.lookup(hostname, options);

/** A webhook host refused at delivery: its name, or one of the addresses it resolves to. */
export class WebhookTargetRefused extends Error {
  override readonly name = 'WebhookTargetRefused';
}

/**
 * The address a delivery connects to, checked before any connection. An address literal is
 * checked as it is; a name is resolved, and EVERY address it resolves to must pass (a name
 * with one private address among public ones is refused: the connection could pick it).
 * An allowed host (see `allowWebhookHosts`) skips the rules. The caller then connects to
 * exactly this address (see `pinnedLookup`), so a second resolution cannot swap it for
 * another (DNS rebinding).
 */
export async function resolveWebhookHost(host: string, allowed: boolean, lookup: LookupAll = systemLookup): Promise<LookupAddress> {
  if (isIPv4(host) || isIPv6(host)) {
    const why = allowed ? undefined : refusedAddress(host);
    if (why !== undefined) throw new WebhookTargetRefused(`${host} is ${why}`);
    return { address: host, family: isIPv4(host) ? 4 : 6 };
  }
  if (!allowed) {
    const why = refusedHostName(host);
    if (why !== undefined) throw new WebhookTargetRefused(`${host} is ${why}`);
  }
  const addresses = await lookup(host, { all: true });
  if (addresses.length === 0) throw new WebhookTargetRefused(`${host} resolves to no address`);
  if (!allowed) {
    for (const a of addresses) {
      const why = refusedAddress(a.address);
      if (why !== undefined) throw new WebhookTargetRefused(`${host} resolves to ${a.address}, ${why}`);
    }
  }
  return addresses[0]!;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for `http.request` that answers `target` whatever it is asked: the connection
 * goes to the address that was checked. Answers both forms net asks for (one address, or
 * `all: true` when it races address families).
 */
export function pinnedLookup(target: LookupAddress): (hostname: string, options: { all?: boolean }, callback: LookupCallback) => void {
  return (_hostname, options, callback) => {
    if (options?.all === true) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
}
