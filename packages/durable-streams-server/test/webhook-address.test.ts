import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { canonicalHost, checkWebhookUrl, parseIPv6, refusedAddress, refusedHostName } from '../src/webhook-address.js';
import { pinnedLookup, resolveWebhookHost, WebhookTargetRefused } from '../src/webhook-resolve.js';

// Pure logic: nothing here resolves a real name or opens a connection.

const NONE = new Set<string>();
const refused = (url: string, allow: ReadonlySet<string> = NONE): string | undefined => {
  const r = checkWebhookUrl(url, allow);
  return 'refused' in r ? r.refused : undefined;
};

describe('refusedAddress (IPv4)', () => {
  it.each([
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.255', 'carrier-grade NAT'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.0.0.8', 'IETF'],
    ['192.0.2.1', 'documentation'],
    ['192.88.99.1', '6to4 relay'],
    ['192.168.1.1', 'private'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.255', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
  ])('%s is refused (%s)', (address, why) => {
    expect(refusedAddress(address)).toContain(why);
  });

  it.each([
    '1.1.1.1',
    '8.8.8.8',
    '100.63.255.255',
    '100.128.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '192.167.255.255',
    '198.17.255.255',
    '223.255.255.255',
  ])('%s (public, at the edge of a refused range) passes', (address) => {
    expect(refusedAddress(address)).toBeUndefined();
  });
});

describe('refusedAddress (IPv6)', () => {
  it.each([
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['::ffff:10.0.0.1', 'IPv4-mapped'],
    ['::ffff:8.8.8.8', 'IPv4-mapped'],
    ['::ffff:a00:1', 'IPv4-mapped'],
    ['::ffff:0:7f00:1', 'IPv4-translated'],
    ['::127.0.0.1', 'IPv4-compatible'],
    ['64:ff9b::10.0.0.1', 'NAT64 address of a private'],
    ['64:ff9b::7f00:1', 'NAT64 address of a loopback'],
    ['64:ff9b:1::1', 'local-use NAT64'],
    ['100::1', 'discard-only'],
    ['2001:db8::1', 'documentation'],
    ['2001::1', 'Teredo'],
    ['2001:1ff::1', 'IETF'],
    ['2002:a00:1::1', '6to4 address of a private'],
    ['2002:7f00:1::', '6to4 address of a loopback'],
    ['3fff::1', 'documentation'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['fec0::1', 'site-local'],
    ['ff02::1', 'multicast'],
    ['4000::1', 'not a global unicast'],
    ['5f00::1', 'not a global unicast'],
  ])('%s is refused (%s)', (address, why) => {
    expect(refusedAddress(address)).toContain(why);
  });

  it.each(['2606:4700:4700::1111', '2a00:1450:4001::200e', '64:ff9b::808:808', '2002:808:808::1', '2001:200::1', '3fff:1000::1'])(
    '%s (global unicast) passes',
    (address) => {
      expect(refusedAddress(address)).toBeUndefined();
    },
  );

  it('parses every IPv6 notation into eight groups', () => {
    expect(parseIPv6('::')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIPv6('1::')).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIPv6('::ffff:10.0.0.1')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001]);
    expect(parseIPv6('1:2:3:4:5:6:1.2.3.4')).toEqual([1, 2, 3, 4, 5, 6, 0x0102, 0x0304]);
    expect(parseIPv6('1:2:3:4:5:6:7:8')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(parseIPv6('10.0.0.1')).toBeUndefined();
    expect(parseIPv6('1:::2')).toBeUndefined();
  });

  it('refuses what is not an address literal at all', () => {
    expect(refusedAddress('example.com')).toBe('not an IP address');
    expect(refusedAddress('0x7f.1')).toBe('not an IP address');
    expect(refusedAddress('')).toBe('not an IP address');
  });
});

describe('refusedHostName', () => {
  it.each([
    'localhost',
    'LOCALHOST',
    'localhost.',
    'api.localhost',
    'printer.local',
    'db.internal',
    'metadata.google.internal',
    'nas.home.arpa',
    'internal',
  ])('%s is refused', (name) => {
    expect(refusedHostName(name)).toBeDefined();
  });

  it.each(['example.com', 'hooks.example.org', 'localhost.example.com', 'internal.example.com', 'local-shop.com'])('%s passes', (name) => {
    expect(refusedHostName(name)).toBeUndefined();
  });
});

describe('checkWebhookUrl', () => {
  it('refuses the odd IPv4 notations the URL parser turns into private addresses', () => {
    // WHATWG URL parsing makes each of these 127.0.0.1 / 10.0.0.1 before the check.
    for (const url of [
      'http://0x7f.1/',
      'http://2130706433/',
      'http://127.1/',
      'http://0177.0.0.1/',
      'http://0x7f000001/',
      'http://0x0a.0.0.1/',
    ]) {
      expect(refused(url), url).toMatch(/loopback|private/);
    }
    expect(refused('http://[::ffff:10.0.0.1]/hook')).toContain('IPv4-mapped');
    expect(refused('http://[::ffff:127.0.0.1]:8080/')).toContain('IPv4-mapped');
    expect(refused('http://[::1]/')).toContain('loopback');
    expect(refused('http://[fe80::1]/')).toContain('link-local');
    expect(refused('http://10.0.0.1/hook')).toContain('private');
    expect(refused('https://169.254.169.254/latest/meta-data')).toContain('link-local');
    expect(refused('http://100.64.1.1/')).toContain('carrier-grade NAT');
    expect(refused('http://0.0.0.0:8080/')).toContain('unspecified');
  });

  it('refuses other schemes, credentials, local names and what is not a URL', () => {
    expect(refused('ftp://example.com/')).toContain('http or https');
    expect(refused('file:///etc/passwd')).toContain('http or https');
    expect(refused('http://user:pass@example.com/')).toContain('user name or password');
    expect(refused('http://user@example.com/')).toContain('user name or password');
    expect(refused('http://localhost:8080/')).toContain('localhost');
    expect(refused('http://LOCALHOST./')).toContain('localhost');
    expect(refused('http://app.localhost/')).toContain('localhost');
    expect(refused('https://db.internal/hook')).toContain('local-network');
    expect(refused('http://printer.local/')).toContain('local-network');
    expect(refused('example.com/hook')).toContain('not a valid absolute URL');
    expect(refused(`https://example.com/${'a'.repeat(2048)}`)).toContain('longer than');
  });

  it('passes public hosts, and names whose addresses are checked at delivery', () => {
    const ok = checkWebhookUrl('https://Hooks.Example.com:8443/in?x=1', NONE);
    expect(ok).toMatchObject({ host: 'hooks.example.com', allowed: false });
    expect(refused('http://8.8.8.8/')).toBeUndefined();
    expect(refused('http://[2606:4700:4700::1111]/')).toBeUndefined();
  });

  it('lets exact allowed hosts through, in canonical form, and nothing else', () => {
    const allow = new Set(['127.0.0.1', canonicalHost('[::1]'), canonicalHost('Receiver.Internal.')]);
    expect(checkWebhookUrl('http://127.0.0.1:9999/hook', allow)).toMatchObject({ host: '127.0.0.1', allowed: true });
    // The same address in another notation is the same host.
    expect(checkWebhookUrl('http://0x7f.1/', allow)).toMatchObject({ host: '127.0.0.1', allowed: true });
    expect(checkWebhookUrl('http://[0:0::1]/', allow)).toMatchObject({ host: '::1', allowed: true });
    expect(checkWebhookUrl('http://receiver.internal/', allow)).toMatchObject({ allowed: true });
    // Exact: neighbours are not allowed.
    expect(refused('http://127.0.0.2/', allow)).toContain('loopback');
    expect(refused('http://other.internal/', allow)).toContain('local-network');
    // Credentials are refused even for an allowed host.
    expect(refused('http://u:p@127.0.0.1/', allow)).toContain('user name or password');
  });
});

describe('resolveWebhookHost (with an injected lookup)', () => {
  const lookupOf = (table: Record<string, LookupAddress[]>) => {
    const asked: string[] = [];
    const lookup = async (host: string): Promise<LookupAddress[]> => {
      asked.push(host);
      return table[host] ?? [];
    };
    return { lookup, asked };
  };

  it('refuses a name that resolves to a private address, before any connection', async () => {
    const { lookup } = lookupOf({ 'rebind.example': [{ address: '10.0.0.7', family: 4 }] });
    await expect(resolveWebhookHost('rebind.example', false, lookup)).rejects.toThrow(/resolves to 10\.0\.0\.7, a private address/);
  });

  it('refuses a name when ANY of its addresses is refused (the connection could pick that one)', async () => {
    const { lookup } = lookupOf({
      'mixed.example': [
        { address: '93.184.216.34', family: 4 },
        { address: '::ffff:127.0.0.1', family: 6 },
      ],
    });
    const err = await resolveWebhookHost('mixed.example', false, lookup).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebhookTargetRefused);
    expect((err as Error).message).toContain('IPv4-mapped');
  });

  it('returns the first address of a name whose addresses are all public', async () => {
    const { lookup } = lookupOf({
      'ok.example': [
        { address: '2606:4700:4700::1111', family: 6 },
        { address: '1.1.1.1', family: 4 },
      ],
    });
    expect(await resolveWebhookHost('ok.example', false, lookup)).toEqual({ address: '2606:4700:4700::1111', family: 6 });
  });

  it('refuses local names without asking the resolver, and a name without addresses', async () => {
    const { lookup, asked } = lookupOf({ 'db.internal': [{ address: '1.1.1.1', family: 4 }] });
    await expect(resolveWebhookHost('db.internal', false, lookup)).rejects.toThrow(/local-network/);
    await expect(resolveWebhookHost('nothing.example', false, lookup)).rejects.toThrow(/no address/);
    expect(asked).toEqual(['nothing.example']);
  });

  it('checks an address literal without resolving it; an allowed host skips the rules', async () => {
    const { lookup, asked } = lookupOf({ 'receiver.internal': [{ address: '10.1.2.3', family: 4 }] });
    await expect(resolveWebhookHost('192.168.0.1', false, lookup)).rejects.toThrow(/private/);
    expect(await resolveWebhookHost('127.0.0.1', true, lookup)).toEqual({ address: '127.0.0.1', family: 4 });
    expect(await resolveWebhookHost('receiver.internal', true, lookup)).toEqual({ address: '10.1.2.3', family: 4 });
    expect(asked).toEqual(['receiver.internal']);
  });

  it('pins the connection to the checked address, in both forms net asks for', () => {
    const lookup = pinnedLookup({ address: '93.184.216.34', family: 4 });
    const one: unknown[] = [];
    lookup('anything.example', {}, (...args) => one.push(...args));
    expect(one).toEqual([null, '93.184.216.34', 4]);
    const all: unknown[] = [];
    lookup('anything.example', { all: true }, (...args) => all.push(...args));
    expect(all).toEqual([null, [{ address: '93.184.216.34', family: 4 }]]);
  });
});
