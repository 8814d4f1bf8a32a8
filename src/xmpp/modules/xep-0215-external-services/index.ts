import { createHmac } from 'node:crypto';
import type { Jid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { formatDateTime } from '../../../util/xep-0082-datetime.js';
import { StanzaError } from '../../errors.js';
import { defineModule, type IqRequest } from '../../module.js';
import { parseIceUri, type IceServer } from './ice-uri.js';

export const NS_EXTDISCO = 'urn:xmpp:extdisco:2';

/** Credentials for a TURN server that shares `secret` with us: coturn's `use-auth-secret`, the "TURN REST API". */
export function turnCredentials(secret: string, user: Jid, expiresMs: number): { username: string; password: string } {
  // The username is "<expiry in Unix seconds>:<anything>"; the TURN server recomputes the password from it.
  const username = `${Math.floor(expiresMs / 1000)}:${user.bare}`;
  return { username, password: createHmac('sha1', secret).update(username).digest('base64') };
}

/**
 * XEP-0215 External Service Discovery: the STUN and TURN servers a client
 * needs for audio and video calls (Jingle ICE-UDP), configured as URIs,
 * with short-lived TURN credentials for each requesting account when a
 * secret is shared with the TURN server. Only the server's own users are
 * answered: credentials let their holder relay traffic through the TURN
 * server.
 *
 * With no services configured, the module advertises nothing and answers
 * nothing (the server replies service-unavailable).
 */
export default defineModule({
  name: 'external-services',
  implements: 'XEP-0215',
  options: {
    services: {
      type: 'string[]',
      default: [],
      doc: 'STUN/TURN servers as RFC 7064/7065 URIs, e.g. ["stun:turn.example.org", "turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp"].',
    },
    turnSecret: { type: 'optional-string', doc: "Secret shared with the TURN server (coturn: use-auth-secret, static-auth-secret): each user gets time-limited credentials for the turn: and turns: services. Without it they are listed without credentials." },
    credentialTtlSeconds: { type: 'number', default: 86_400, integer: true, min: 60, doc: 'How long TURN credentials stay valid.' },
  },
  start(ctx) {
    const servers: IceServer[] = ctx.options.services.map((uri, i) => {
      try {
        return parseIceUri(uri);
      } catch (e) {
        throw new Error(`modules.options.external-services.services[${i}]: ${(e as Error).message}`);
      }
    });
    if (servers.length === 0) return;
    const secret = ctx.options.turnSecret;

    const describe = (s: IceServer, user: Jid): XmlElement => {
      const el = x('service', { type: s.type, host: s.host, port: String(s.port), transport: s.transport });
      const turn = s.type === 'turn' || s.type === 'turns';
      if (turn && secret !== undefined) {
        const expiresMs = Date.now() + ctx.options.credentialTtlSeconds * 1000;
        const { username, password } = turnCredentials(secret, user, expiresMs);
        Object.assign(el.attrs, { username, password, expires: formatDateTime(expiresMs), restricted: '1' });
      }
      return el;
    };
    const localUser = (req: IqRequest): Jid => {
      if (req.from.local === '' || !ctx.server.isLocalDomain(req.from.domain)) throw new StanzaError('forbidden', 'external services are for accounts on this server');
      return req.from;
    };

    ctx.feature(NS_EXTDISCO);
    ctx.iq('get', NS_EXTDISCO, 'services', (req) => {
      const user = localUser(req);
      const type = req.payload.attrs.type;
      const listed = servers.filter((s) => type === undefined || s.type === type);
      return x('services', { xmlns: NS_EXTDISCO, type }, ...listed.map((s) => describe(s, user)));
    });
    // §3.3: fresh credentials for a service the client already knows of (by host and type, and port if given).
    ctx.iq('get', NS_EXTDISCO, 'credentials', (req) => {
      const user = localUser(req);
      const wanted = req.payload.getChild('service');
      if (wanted === undefined || wanted.attrs.host === undefined || wanted.attrs.type === undefined) throw new StanzaError('bad-request', 'name the service by host and type');
      const port = wanted.attrs.port;
      const matching = servers.filter((s) => s.host === wanted.attrs.host && s.type === wanted.attrs.type && (port === undefined || String(s.port) === port));
      const withCredentials = secret === undefined ? [] : matching.filter((s) => s.type === 'turn' || s.type === 'turns');
      if (withCredentials.length === 0) throw new StanzaError('item-not-found', 'no service with credentials at that host and type');
      return x('credentials', { xmlns: NS_EXTDISCO }, ...withCredentials.map((s) => describe(s, user)));
    });
  },
});
