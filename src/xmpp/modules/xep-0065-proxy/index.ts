import { createHash } from 'node:crypto';
import { createServer, type Server as NetServer } from 'node:net';
import { tryParseJid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import { defineModule } from '../../module.js';
import { answerServiceIqs } from '../../service-iq.js';
import type { DiscoApi } from '../xep-0030-disco/api.js';
import { Relay } from './relay.js';

export const NS_BYTESTREAMS = 'http://jabber.org/protocol/bytestreams';

/** XEP-0065 §5.3.2: the stream's name at the proxy, SHA1(SID + Initiator JID + Target JID) in hex. */
export function streamDigest(sid: string, initiator: string, target: string): string {
  return createHash('sha1').update(sid + initiator + target, 'utf8').digest('hex');
}

const WILDCARD = new Set(['0.0.0.0', '::', '']);

/**
 * XEP-0065 SOCKS5 Bytestreams proxy (§6, mediated connections) on
 * `proxy.<domain>`: when two clients cannot reach each other directly
 * (both behind NAT, as phones are), both connect here and the proxy joins
 * their connections. Jingle file transfer (XEP-0260) in Conversations, Gajim
 * and Dino, and SI file transfer (XEP-0096), fall back to it.
 *
 * Only this server's accounts may use it (§4: forbidden otherwise); the
 * target connects without an account, known only by the stream digest,
 * which it cannot learn without the initiator. Off by default: it opens a
 * port of its own and carries bulk traffic.
 */
export default defineModule({
  name: 'proxy65',
  implements: 'XEP-0065 (proxy)',
  depends: ['disco'],
  defaultEnabled: false,
  options: {
    jid: { type: 'optional-string', doc: 'Service JID; default `proxy.<domain>` for every served domain.' },
    port: { type: 'number', default: 5000, integer: true, min: 0, max: 65535, doc: 'TCP port of the SOCKS5 listener (0: any free port).' },
    host: {
      type: 'optional-string',
      doc: 'Host name or address clients are told to connect to; default `server.bind` when it is one address, else the served domain. Each cluster node must name itself: both parties of a stream must reach the same node.',
    },
    pendingSeconds: { type: 'number', default: 60, min: 1, doc: 'How long a connection may wait for its peer and the activation.' },
    idleSeconds: { type: 'number', default: 300, min: 1, doc: 'An activated stream with no traffic for this long is closed.' },
    maxBytesPerSecond: { type: 'number', default: 4 * 1024 * 1024, integer: true, min: 0, doc: 'Most bytes per second relayed in each direction of one stream (0: no limit), so one transfer cannot take the node\'s bandwidth.' },
    maxPendingStreams: { type: 'number', default: 1000, integer: true, min: 1, doc: 'Streams waiting for activation, at most (connections beyond are refused).' },
  },
  async start(ctx) {
    const opts = ctx.options;
    const server = ctx.server;
    const disco = ctx.use<DiscoApi>('disco');
    const relay = new Relay({ pendingMs: opts.pendingSeconds * 1000, idleMs: opts.idleSeconds * 1000, maxPending: opts.maxPendingStreams, bytesPerSecond: opts.maxBytesPerSecond }, ctx.log);

    const listener: NetServer = createServer((socket) => relay.accept(socket));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(opts.port, server.bindAddress, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    const address = listener.address();
    const port = typeof address === 'object' && address !== null ? address.port : opts.port;
    ctx.onStop(
      () =>
        new Promise<void>((resolve) => {
          relay.close();
          listener.close(() => resolve());
        }),
    );
    ctx.log.debug(`proxy65: SOCKS5 bytestreams on ${server.bindAddress}:${port}`);

    server.metrics.gauge('sori_proxy65_streams', 'XEP-0065 proxy streams on this node, by state: waiting for their second connection or activation, or relaying.', () => [
      [['pending'], relay.pendingStreams],
      [['active'], relay.activeStreams],
    ], ['state']);

    /** Service domain → the served domain it belongs to. */
    const services = new Map<string, string>();
    for (const host of server.hosts) services.set(opts.jid ?? `proxy.${host}`, host);
    for (const service of services.keys()) ctx.onStop(disco.addItem({ jid: service, name: 'SOCKS5 Bytestreams Service' }));
    const announced = (host: string): string => opts.host ?? (WILDCARD.has(server.bindAddress) ? host : server.bindAddress);

    function localAccount(ev: RouteEvent): void {
      if (!server.isLocalDomain(ev.from.domain) || ev.from.local === '') throw new StanzaError('forbidden', 'this proxy serves the accounts of its server');
    }

    /** §6.3.4: the initiator (the iq's sender) asks to join its stream with the target. */
    function activate(ev: RouteEvent, query: XmlElement): null {
      const sid = query.attrs.sid;
      const target = tryParseJid(query.getChildText('activate'));
      if (sid === undefined || sid === '' || target === null) throw new StanzaError('bad-request', 'activation needs a sid and the target\'s JID');
      const outcome = relay.activate(streamDigest(sid, ev.from.full, target.full));
      if (outcome === 'no-stream') throw new StanzaError('item-not-found', 'no connection for that stream, or it is not yours to activate');
      if (outcome === 'one-side') throw new StanzaError('not-allowed', 'only one party is connected');
      return null;
    }

    const info = { identity: { category: 'proxy', type: 'bytestreams', name: 'SOCKS5 Bytestreams Service' }, features: [NS_BYTESTREAMS] };
    answerServiceIqs(ctx, services, info, (ev, host) => {
      const iq = ev.stanza;
      const payload = iq.elements()[0]!;
      const type = iq.attrs.type;
      if (payload.name !== 'query' || payload.attrs.xmlns !== NS_BYTESTREAMS) throw new StanzaError('service-unavailable');
      localAccount(ev);
      // §4.2: where to connect.
      if (type === 'get') return x('query', { xmlns: NS_BYTESTREAMS }, x('streamhost', { jid: ev.to.full, host: announced(host), port: String(port) }));
      return activate(ev, payload);
    });
  },
});
