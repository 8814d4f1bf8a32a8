import { resolveSrv } from 'node:dns/promises';

/** Where to connect for a remote domain; tried in order. */
export interface S2sTarget {
  host: string;
  port: number;
  /** TLS from the first byte (XEP-0368 `_xmpps-server`), else STARTTLS. */
  directTls: boolean;
}

/** Parses a static route: "host:port", "[v6]:port", "host" (5269) or "xmpps://host:port". */
export function parseStaticRoute(value: string): S2sTarget {
  let rest = value.trim();
  let directTls = false;
  if (rest.startsWith('xmpps://')) {
    directTls = true;
    rest = rest.slice(8);
  } else if (rest.startsWith('xmpp://')) rest = rest.slice(7);
  let host = rest;
  let port = directTls ? 5270 : 5269;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (v6 !== null) {
    host = v6[1]!;
    if (v6[2] !== undefined) port = Number(v6[2]);
  } else {
    const i = rest.lastIndexOf(':');
    if (i !== -1) {
      host = rest.slice(0, i);
      port = Number(rest.slice(i + 1));
    }
  }
  if (host === '' || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad s2s route '${value}' (expected host:port or xmpps://host:port)`);
  return { host, port, directTls };
}

type SrvLookup = (name: string) => Promise<{ name: string; port: number; priority: number; weight: number }[]>;

/** RFC 2782 order: priority ascending, weighted random within a priority. */
function orderSrv<T extends { priority: number; weight: number }>(records: T[]): T[] {
  const out: T[] = [];
  const byPriority = new Map<number, T[]>();
  for (const r of records) byPriority.set(r.priority, [...(byPriority.get(r.priority) ?? []), r]);
  for (const p of [...byPriority.keys()].sort((a, b) => a - b)) {
    const group = byPriority.get(p)!;
    while (group.length > 0) {
      const total = group.reduce((s, r) => s + r.weight, 0);
      let pick = Math.random() * total;
      let i = group.findIndex((r) => (pick -= r.weight) < 0);
      if (i === -1) i = 0;
      out.push(group.splice(i, 1)[0]!);
    }
  }
  return out;
}

/**
 * RFC 6120 §3.2 + XEP-0368: the static route when one is configured, else
 * `_xmpps-server._tcp` and `_xmpp-server._tcp` SRV records merged by priority
 * (direct TLS first on a tie), else the domain itself on 5269 (A/AAAA through
 * the system resolver at connect time). A "." target means no service.
 */
export async function resolveTargets(domain: string, staticRoutes: Readonly<Record<string, unknown>>, lookup: SrvLookup = resolveSrv): Promise<S2sTarget[]> {
  const configured = staticRoutes[domain];
  if (typeof configured === 'string') return [parseStaticRoute(configured)];
  const srv = async (name: string, directTls: boolean) => {
    try {
      return (await lookup(name)).map((r) => ({ ...r, directTls }));
    } catch {
      return [];
    }
  };
  const [tls, plain] = await Promise.all([srv(`_xmpps-server._tcp.${domain}`, true), srv(`_xmpp-server._tcp.${domain}`, false)]);
  const all = [...tls, ...plain];
  // RFC 2782: a lone "." target says the service is decidedly not available.
  if (all.length > 0 && all.every((r) => r.name === '.')) return [];
  const usable = all.filter((r) => r.name !== '.' && r.name !== '');
  if (usable.length === 0) return [{ host: domain, port: 5269, directTls: false }];
  // Direct TLS wins ties (XEP-0368 §3), then weighted order within each priority.
  const ordered = orderSrv(usable).sort((a, b) => a.priority - b.priority || Number(b.directTls) - Number(a.directTls));
  return ordered.map((r) => ({ host: r.name, port: r.port, directTls: r.directTls }));
}
