/**
 * node-redis routes a cluster command by the slot its client computes from the first key
 * (the `cluster-key-slot` package), and on `MOVED` asks the same computation again. For a key
 * whose first hash tag is empty (`{}`) and that has a `}` after it, that computation disagrees
 * with Redis: Redis hashes the whole key, it hashes what follows up to the next `}`, so the
 * command is sent to the wrong master until the redirections run out. Such a key (a record id
 * starting with `}`, as `a:{}x{}` for the id `}x{`) is routed by a stand-in key of the same
 * slot; every other key routes as it is.
 */

/** CRC16/XMODEM, Redis's key hash (`CLUSTER KEYSLOT` is this of the hashed part, modulo 16384). */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

const SLOTS = 16384;
let standIns: string[] | undefined;

/** One key without braces per slot (so any computation hashes it whole), found once, on first need. */
function standInFor(slot: number): string {
  if (standIns === undefined) {
    const found: string[] = new Array(SLOTS);
    let left = SLOTS;
    for (let n = 0; left > 0; n++) {
      const key = n.toString(36);
      const s = crc16(Buffer.from(key)) % SLOTS;
      if (found[s] === undefined) {
        found[s] = key;
        left--;
      }
    }
    standIns = found;
  }
  return standIns[slot]!;
}

/** The key node-redis should route `key` by: `key` itself, unless its first hash tag is empty and a `}` follows. */
export function routingKey(key: string): string {
  const open = key.indexOf('{');
  if (open === -1 || key.charCodeAt(open + 1) !== 0x7d || key.indexOf('}', open + 2) === -1) return key;
  return standInFor(crc16(Buffer.from(key)) % SLOTS);
}
