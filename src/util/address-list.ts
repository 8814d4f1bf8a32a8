import { BlockList, isIP } from 'node:net';
import { ConfigError } from './options.js';

/**
 * Which client addresses may use an HTTP endpoint (metrics, the admin API): single addresses and CIDR prefixes,
 * IPv4 and IPv6 (`10.0.0.0/8`, `fd00::/8`). An IPv4 client on a dual-stack
 * socket shows up as `::ffff:a.b.c.d`, which BlockList matches to IPv4 rules.
 */
export function addressList(entries: readonly string[], where: string): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address);
    if (family === 0) throw new ConfigError(`${where}: "${entry}" is not an IP address or CIDR prefix`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) {
      list.addAddress(address, type);
      continue;
    }
    const bits = Number(prefix);
    if (!Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) throw new ConfigError(`${where}: "${entry}" has no valid prefix length`);
    list.addSubnet(address, bits, type);
  }
  return list;
}

export function isAllowed(list: BlockList, remote: string | undefined): boolean {
  if (remote === undefined) return false;
  const family = isIP(remote);
  if (family === 0) return false;
  if (list.check(remote, family === 4 ? 'ipv4' : 'ipv6')) return true;
  // IPv4-mapped IPv6 (dual-stack listeners): check the IPv4 address too.
  return remote.startsWith('::ffff:') && isIP(remote.slice(7)) === 4 && list.check(remote.slice(7), 'ipv4');
}

/**
 * Whether an HTTP request reached this server's allow-list check from the
 * address it names: one relayed by a reverse proxy comes from the proxy's
 * (often loopback) address, so an allow-list of loopback would let the whole
 * internet in. Such requests are refused; operators' tools ask directly.
 */
export function requestAllowed(list: BlockList, req: { headers: Record<string, string | string[] | undefined>; socket: { remoteAddress?: string } }): boolean {
  const proxied = req.headers.forwarded !== undefined || req.headers['x-forwarded-for'] !== undefined || req.headers['x-real-ip'] !== undefined;
  return !proxied && isAllowed(list, req.socket.remoteAddress);
}
