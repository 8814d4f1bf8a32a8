import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { tryParseJid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';
import { errorReply, StanzaError, StreamError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import { defineModule } from '../../module.js';
import { PlacementQueue } from '../../placement-queue.js';
import { parseXml } from '../../stream/parse-xml.js';
import { DEFAULT_LIMITS } from '../../stream/parser.js';
import type { DiscoApi } from '../xep-0030-disco/api.js';
import { ComponentConnection, type ComponentHost } from './connection.js';

/** Stanzas to a component domain are claimed before modules that serve accounts see them. */
const PRIORITY = 500;
/** Topic of stanzas posted to the node a component is connected to. */
const POST_TOPIC = 'xep-0114/stanza';
const ROUTE_EVENTS = ['message/host', 'message/bare', 'message/full', 'presence/host', 'presence/bare', 'presence/full', 'iq/host', 'iq/bare', 'iq/full'] as const;

/** The cluster-wide placement of a component domain (ServerApi.placement). */
function placementKey(domain: string): string {
  return `xep-0114:${domain}`;
}

/**
 * XEP-0114 Jabber Component Protocol: external services (gateways, bots,
 * pubsub or MUC servers written elsewhere) connect over TCP, prove a shared
 * secret, and serve a domain of their own. The protocol has no TLS, so the
 * listener is on loopback unless configured otherwise.
 *
 * In a cluster a component domain is held by the node its connection is on
 * (ServerApi.placement); the other nodes post its stanzas there, and refuse
 * a second connection for the domain with conflict.
 */
export default defineModule({
  name: 'components',
  implements: 'XEP-0114',
  depends: ['disco'],
  options: {
    port: { type: 'number', default: 5347, integer: true, min: 0, max: 65535, doc: 'Port components connect to (0 turns the listener off). Listens only when components are configured.' },
    bind: { type: 'string', default: '127.0.0.1', doc: 'Address of the component listener. XEP-0114 streams are not encrypted: keep it on loopback or a private network.' },
    handshakeTimeoutSeconds: { type: 'number', default: 30, min: 0.1, doc: 'A connection that has not completed the handshake by then is closed.' },
    secrets: { type: 'record', default: {}, doc: 'Component domains and their shared secrets, e.g. {"bridge.example.org": "long random secret"}.' },
  },
  async start(ctx) {
    const secrets = new Map<string, string>();
    for (const [domain, secret] of Object.entries(ctx.options.secrets)) {
      if (typeof secret !== 'string' || secret === '') throw new Error(`modules.options.components.secrets.${domain}: expected a non-empty string`);
      if (ctx.server.isLocalDomain(domain)) throw new Error(`modules.options.components.secrets.${domain}: a served domain cannot be a component`);
      secrets.set(domain.toLowerCase(), secret);
    }
    if (secrets.size === 0 || ctx.options.port === 0) return;
    const disco = ctx.use<DiscoApi>('disco');
    const connected = new Map<string, ComponentConnection>();

    const server = ctx.server;
    const placement = server.clustered ? new PlacementQueue(server, false, ctx.log) : null;
    /** Set once this node leaves the cluster: components connect to the nodes that stay. */
    let leaving = false;
    const host: ComponentHost = {
      secretOf: (domain) => secrets.get(domain),
      async attach(domain, connection) {
        if (leaving) throw new Error('this node is leaving the cluster');
        if (connected.has(domain)) return false;
        // In a cluster the domain is held by one node at a time: a second connection elsewhere is a conflict too.
        if (placement !== null && (await server.placement(placementKey(domain), true)) !== server.nodeId) return false;
        if (connected.has(domain)) return false;
        connected.set(domain, connection);
        return true;
      },
      detach(domain, connection) {
        if (connected.get(domain) !== connection) return;
        connected.delete(domain);
        if (placement !== null) void server.releasePlacement(placementKey(domain)).catch((e: unknown) => ctx.log.warn(`components: releasing ${domain} failed`, e));
      },
      route: (stanza) => server.route(stanza),
    };

    for (const domain of secrets.keys()) {
      ctx.onStop(ctx.server.addServiceDomain(domain));
      ctx.onStop(disco.addItem({ jid: domain }));
    }
    // Stanzas for a component domain go to its connection; while it is away, requests bounce (RFC 6120 §10.3.3 for a domain that cannot deliver).
    const deliverHere = (stanza: XmlElement, domain: string): void => {
      const connection = connected.get(domain);
      if (connection !== undefined) connection.deliver(stanza);
      else if (stanza.name !== 'presence' && stanza.attrs.type !== 'error' && stanza.attrs.type !== 'result') {
        void server.route(errorReply(stanza, new StanzaError('service-unavailable', `${domain} is not connected`))).catch(() => undefined);
      }
    };
    const claim = ({ stanza, to }: RouteEvent): boolean => {
      if (!secrets.has(to.domain)) return false;
      if (placement === null || connected.has(to.domain)) {
        deliverHere(stanza, to.domain);
        return true;
      }
      // Connected to another node, maybe: post it there, in order.
      const key = placementKey(to.domain);
      void placement.run(key, async (holder) => {
        if (holder !== null && holder !== server.nodeId && (await server.nodePost(holder, POST_TOPIC, stanza.toString()))) return;
        placement.forget(key);
        deliverHere(stanza, to.domain);
      });
      return true;
    };
    for (const event of ROUTE_EVENTS) ctx.hook(event, claim, PRIORITY);
    if (placement !== null) {
      // A graceful stop: the node's bus stops before its modules, and what a component still sent from
      // then on could not be routed. Closed now, with its domain released, it reconnects to a node that stays.
      ctx.hook('cluster/leaving', async () => {
        leaving = true;
        const domains = [...connected.keys()];
        for (const c of [...connected.values()]) c.close(new StreamError('system-shutdown', 'this node is stopping'));
        await Promise.all(domains.map((d) => server.releasePlacement(placementKey(d)).catch((e: unknown) => ctx.log.warn(`components: releasing ${d} failed`, e))));
      });
      ctx.onStop(server.onNodePost(POST_TOPIC, (body) => {
        const stanza = parseXml(body);
        const domain = tryParseJid(stanza.attrs.to)?.domain;
        if (domain !== undefined && secrets.has(domain)) deliverHere(stanza, domain);
      }));
    }

    const sockets = new Set<Socket>();
    const listener: NetServer = createServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      new ComponentConnection(socket, host, DEFAULT_LIMITS, ctx.log, ctx.options.handshakeTimeoutSeconds * 1000);
    });
    await new Promise<void>((ok, fail) => {
      listener.once('error', fail);
      listener.listen(ctx.options.port, ctx.options.bind, () => ok());
    });
    ctx.log.info(`components: listening on ${ctx.options.bind}:${ctx.options.port} for ${[...secrets.keys()].join(', ')}`);
    ctx.onStop(async () => {
      for (const c of connected.values()) c.close(new StreamError('system-shutdown'));
      for (const s of sockets) s.destroy();
      await new Promise<void>((ok) => listener.close(() => ok()));
    });
  },
});
