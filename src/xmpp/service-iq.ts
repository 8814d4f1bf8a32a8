import type { Jid } from '../util/jid.js';
import { x, type XmlElement } from '../util/xml.js';
import { errorReply, StanzaError } from './errors.js';
import type { RouteEvent } from './events.js';
import type { ModuleContext } from './module.js';
import { NS_DISCO_INFO, NS_DISCO_ITEMS } from './modules/xep-0030-disco/api.js';

/** What a service answers an iq with: the result's payload (null for an empty result), or a StanzaError thrown. */
export type ServiceIqAnswer = (ev: RouteEvent, host: string) => XmlElement | null | Promise<XmlElement | null>;

/** How the service describes itself in disco#info (XEP-0030): its identity, its features, and any XEP-0128 forms. */
export interface ServiceInfo {
  identity: { category: string; type: string; name: string };
  features: readonly string[];
  forms?: readonly XmlElement[];
  /**
   * What disco shows below the service JID (a pubsub service's nodes): the
   * children of the disco#items answer for the service `to` (`node`
   * undefined) or one of its nodes, and of the disco#info answer for a node;
   * null is item-not-found. Without it the service has no items and no nodes.
   * `query` is the request's `<query/>`, for what it carries besides `node`
   * (an XEP-0059 `<set/>`, whose answer is then one of the children).
   */
  nodes?: {
    items(to: Jid, from: Jid, node: string | undefined, query: XmlElement): Promise<XmlElement[] | null>;
    info(to: Jid, from: Jid, node: string): Promise<XmlElement[] | null>;
  };
}

/**
 * Answers the iq get/set addressed to a module's own service JID
 * (`upload.<host>`, `proxy.<host>`), which hosts no accounts and so reaches
 * the router as a remote domain. `services` maps each service domain to the
 * served domain it belongs to. Other stanzas to the service are dropped, as
 * there is nothing there to receive them.
 *
 * `federated`: other servers' users may use the service too. Its domains are
 * then served domains (`addServiceDomain`, as MUC's), so peers may address
 * them and the service may send to peers; stanzas to them then reach the
 * router's host, bare and full events, which are hooked here as well. A
 * domain another module serves already (a component configured at
 * `pubsub.<host>`) stays that module's: it is left out, with a warning.
 * Returns the service domains answered here.
 */
export function answerServiceIqs(
  ctx: Pick<ModuleContext, 'hook' | 'log' | 'server' | 'onStop'>,
  services: ReadonlyMap<string, string>,
  info: ServiceInfo,
  answer: ServiceIqAnswer,
  opts: { federated?: boolean } = {},
): ReadonlySet<string> {
  const answered = new Map(services);
  if (opts.federated === true) {
    for (const domain of services.keys()) {
      try {
        ctx.onStop(ctx.server.addServiceDomain(domain));
      } catch (e) {
        ctx.log.warn(`${domain} is served by another module (${e instanceof Error ? e.message : String(e)}); ${info.identity.name} is not offered there`);
        answered.delete(domain);
      }
    }
  }
  const disco = x('query', { xmlns: NS_DISCO_INFO }, x('identity', info.identity), ...[NS_DISCO_INFO, ...info.features].map((v) => x('feature', { var: v })), ...(info.forms ?? []));
  /** The service JID's own disco#info and (empty) disco#items; everything else is the service's to answer. */
  const answerOrDisco: ServiceIqAnswer = (ev, host) => {
    const payload = ev.stanza.elements()[0];
    if (ev.to.local !== '' || ev.to.resource !== '' || payload === undefined) throw new StanzaError('service-unavailable');
    const node = payload.attrs.node;
    if (ev.stanza.attrs.type === 'get' && payload.name === 'query' && payload.attrs.xmlns === NS_DISCO_INFO) {
      if (node === undefined) return disco.clone();
      return discoNode(NS_DISCO_INFO, node, info.nodes === undefined ? null : info.nodes.info(ev.to, ev.from, node));
    }
    if (ev.stanza.attrs.type === 'get' && payload.name === 'query' && payload.attrs.xmlns === NS_DISCO_ITEMS) {
      if (info.nodes === undefined) {
        if (node !== undefined) throw new StanzaError('item-not-found');
        return x('query', { xmlns: NS_DISCO_ITEMS });
      }
      return discoNode(NS_DISCO_ITEMS, node, info.nodes.items(ev.to, ev.from, node, payload));
    }
    return answer(ev, host);
  };
  async function discoNode(xmlns: string, node: string | undefined, children: Promise<XmlElement[] | null> | null): Promise<XmlElement> {
    const found = children === null ? null : await children;
    if (found === null) throw new StanzaError('item-not-found');
    return x('query', { xmlns, node }, ...found);
  }
  /** Claims every stanza to a service domain: answers its iq requests, drops the rest. */
  const claim = (ev: RouteEvent): true | undefined | Promise<true> => {
    const host = answered.get(ev.to.domain);
    if (host === undefined) return;
    const iq = ev.stanza;
    if (iq.name !== 'iq' || (iq.attrs.type !== 'get' && iq.attrs.type !== 'set')) return true;
    return (async () => {
      let out: XmlElement;
      try {
        out = x('iq', { type: 'result', id: iq.attrs.id, from: ev.to.full, to: ev.from.full }, (await answerOrDisco(ev, host)) ?? undefined);
      } catch (e) {
        if (!(e instanceof StanzaError)) ctx.log.error(`request to ${ev.to.full} failed`, e);
        out = errorReply(iq, e instanceof StanzaError ? e : new StanzaError('internal-server-error'));
        out.attrs.from = ev.to.full;
        out.attrs.to = ev.from.full;
      }
      if (ev.origin !== null && ev.origin.open && ev.origin.jid.full === ev.from.full) ev.origin.send(out);
      else await ctx.server.route(out);
      return true as const;
    })();
  };
  ctx.hook('route/remote', claim, 500);
  if (opts.federated === true) {
    for (const event of ['iq/host', 'iq/bare', 'iq/full', 'message/host', 'message/bare', 'message/full', 'presence/host', 'presence/bare', 'presence/full'] as const) ctx.hook(event, claim, 500);
  }
  return new Set(answered.keys());
}
