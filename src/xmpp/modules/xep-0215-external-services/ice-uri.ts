/**
 * STUN and TURN server URIs (RFC 7064, RFC 7065), the form WebRTC's
 * iceServers and coturn's documentation use:
 *   stun:host[:port]   stuns:host[:port]
 *   turn:host[:port][?transport=udp|tcp]   turns:host[:port][?transport=udp|tcp]
 * host may be an IPv6 literal in brackets.
 */
export interface IceServer {
  /** The XEP-0215 service type: the URI scheme. */
  type: 'stun' | 'stuns' | 'turn' | 'turns';
  host: string;
  port: number;
  transport: 'udp' | 'tcp';
}

const SCHEMES = new Set(['stun', 'stuns', 'turn', 'turns']);
const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)$/;

/** Parses one URI; throws an Error naming what is wrong. */
export function parseIceUri(uri: string): IceServer {
  const colon = uri.indexOf(':');
  const scheme = colon === -1 ? '' : uri.slice(0, colon).toLowerCase();
  if (!SCHEMES.has(scheme)) throw new Error(`'${uri}' is not a stun:, stuns:, turn: or turns: URI`);
  const type = scheme as IceServer['type'];
  const secure = type === 'stuns' || type === 'turns';
  let rest = uri.slice(colon + 1);
  let transport: IceServer['transport'] = secure ? 'tcp' : 'udp';
  const query = rest.indexOf('?');
  if (query !== -1) {
    const match = /^transport=(udp|tcp)$/i.exec(rest.slice(query + 1));
    // RFC 7064 has no query for STUN; RFC 7065 has only transport for TURN.
    if (match === null || type === 'stun' || type === 'stuns') throw new Error(`'${uri}': only turn: and turns: URIs take a query, and only ?transport=udp or ?transport=tcp`);
    transport = match[1]!.toLowerCase() as IceServer['transport'];
    rest = rest.slice(0, query);
  }
  let host = rest;
  let port = secure ? 5349 : 3478;
  const portAt = rest.startsWith('[') ? rest.indexOf(']:') + 1 : rest.lastIndexOf(':');
  if (portAt > 0) {
    host = rest.slice(0, portAt);
    const digits = rest.slice(portAt + 1);
    port = /^\d{1,5}$/.test(digits) ? Number(digits) : NaN;
    if (!(port >= 1 && port <= 65535)) throw new Error(`'${uri}': the port must be 1-65535`);
  }
  if (!HOST.test(host)) throw new Error(`'${uri}': '${host}' is not a host name or IP address`);
  return { type, host: host.startsWith('[') ? host.slice(1, -1) : host, port, transport };
}
