import { tryParseJid, type Jid } from '../../util/jid.js';
import type { XmlElement } from '../../util/xml.js';
import { errorReply, StanzaError } from '../errors.js';
import type { EventName, RouteEvent } from '../events.js';
import type { Hooks } from '../hooks.js';
import { takesBareJidMessages, type ClientSession } from '../session.js';
import type { NodePostHandler, NodeRequestHandler, Resource } from '../module.js';
import type { IqDispatcher } from './iq-dispatch.js';
import type { Logger } from '../../util/log.js';

export type { Resource } from '../module.js';

/** Where sessions live: this node only, or the cluster. */
export interface Locator {
  /** Every resource of the account, local and remote. */
  resources(bare: string): Resource[] | Promise<Resource[]>;
  /** One resource by full JID, or null. */
  resource(full: string): Resource | null | Promise<Resource | null>;
  /** Hands a stanza to the node holding a remote resource; false if it could not be delivered. */
  forward(resource: Resource, stanza: XmlElement): Promise<boolean>;
  accountExists(jid: Jid): Promise<boolean>;
  /** Cluster only: request/answer between modules on two nodes (ServerApi.nodeRequest). */
  request?(node: string, topic: string, body: string, timeoutMs: number): Promise<string | null>;
  /** Cluster only: registers the answerer of a topic; returns the undo. */
  answer?(topic: string, handler: NodeRequestHandler): () => void;
  /** ServerApi.placement: the holder of a key, claimed for this node when `claim` and nobody holds it. */
  placement(key: string, claim: boolean): Promise<string | null>;
  /** ServerApi.releasePlacement. */
  releasePlacement(key: string): Promise<void>;
  /** Cluster only: a one-way message to a module on another node (ServerApi.nodePost). */
  post?(node: string, topic: string, body: string): Promise<boolean>;
  /** Cluster only: registers the handler of posts of a topic; returns the undo. */
  onPost?(topic: string, handler: NodePostHandler): () => void;
  /** Cluster only: every node of the cluster, this one included (ServerApi.clusterNodes). */
  nodes?(): Promise<string[]>;
}

const EVENT: Record<string, Record<'host' | 'bare' | 'full', EventName>> = {
  message: { host: 'message/host', bare: 'message/bare', full: 'message/full' },
  presence: { host: 'presence/host', bare: 'presence/bare', full: 'presence/full' },
  iq: { host: 'iq/host', bare: 'iq/bare', full: 'iq/full' },
};

/**
 * Routes stanzas by their `to` (RFC 6120 §10, RFC 6121 §8.5). Modules hook the
 * `<kind>/<target>` events; what nobody claims gets the default treatment
 * below: delivery to resources, offline storage, or the error RFC 6121 names.
 */
export class Router {
  constructor(
    private readonly hooks: Hooks,
    private readonly iq: IqDispatcher,
    private readonly locator: Pick<Locator, 'resources' | 'resource' | 'forward' | 'accountExists'>,
    private readonly isLocalDomain: (domain: string) => boolean,
    private readonly log: Logger,
  ) {}

  /** Routes a stanza whose `from` is already trusted. */
  async route(stanza: XmlElement, from: Jid, origin: ClientSession | null): Promise<void> {
    const kind = stanza.name;
    const events = EVENT[kind];
    if (events === undefined) return;
    const toAttr = stanza.attrs.to;
    let to: Jid | null;
    if (toAttr === undefined) {
      // RFC 6120 §10.3: no 'to' means the sender's own account (or the server, for server-originated).
      to = from.local ? from.toBare() : from;
    } else {
      to = tryParseJid(toAttr);
      if (to === null) return this.bounce(stanza, from, origin, new StanzaError('jid-malformed'));
    }
    const ev: RouteEvent = { stanza, from, to, origin };
    if (!this.isLocalDomain(to.domain)) {
      if (await this.hooks.fire('route/remote', ev)) return;
      return this.bounce(stanza, from, origin, new StanzaError('remote-server-not-found'));
    }
    const target = to.local === '' ? 'host' : to.resource === '' ? 'bare' : 'full';
    if (await this.hooks.fire(events[target], ev)) return;
    switch (kind) {
      case 'message':
        return target === 'full' ? this.messageToFull(ev) : target === 'bare' ? this.messageToBare(ev) : this.unhandledAtHost(ev);
      case 'iq':
        return target === 'full' ? this.iqToFull(ev) : this.iqToServer(ev, target === 'host');
      case 'presence':
        // Presence semantics live in the presence module; directed presence to a full JID is delivered as is.
        if (target === 'full') await this.deliverToFull(ev);
        return;
    }
  }

  /** Sends an error reply for a stanza, unless it is itself an error (RFC 6120 §8.3.1). */
  async bounce(stanza: XmlElement, from: Jid, origin: ClientSession | null, error: StanzaError): Promise<void> {
    if (stanza.attrs.type === 'error') return;
    if (stanza.name === 'iq' && stanza.attrs.type === 'result') return;
    const reply = errorReply(stanza, error);
    reply.attrs.to = from.full;
    if (origin !== null && origin.open) {
      origin.send(reply);
      return;
    }
    const replyFrom = reply.attrs.from !== undefined ? tryParseJid(reply.attrs.from) : null;
    if (replyFrom === null || !this.isLocalDomain(replyFrom.domain)) return;
    await this.route(reply, replyFrom, null);
  }

  /** Delivers to the addressed resource here or on its node; false when it is not available. */
  private async deliverToFull(ev: RouteEvent): Promise<boolean> {
    const r = await this.locator.resource(ev.to.full);
    if (r !== null) {
      if (r.session !== null) {
        r.session.send(ev.stanza);
        return true;
      }
      if (await this.locator.forward(r, ev.stanza)) return true;
    }
    return false;
  }

  private async messageToFull(ev: RouteEvent): Promise<void> {
    if (await this.deliverToFull(ev)) return;
    const type = ev.stanza.attrs.type ?? 'normal';
    this.log.debug(`${type} message from ${ev.from.full} to ${ev.to.full}, which is not bound`);
    // RFC 6121 §8.5.3.2.1: chat to an unavailable resource is treated as sent to the bare JID. The RFC has
    // normal ignored or bounced; like Prosody and ejabberd (and RFC 3921) it is taken as chat here, so that a
    // room's mediated invitation or a type-less chat to a resource that has left still reaches the user.
    if (type === 'chat' || type === 'normal') return this.messageToBare({ ...ev, to: ev.to.toBare() });
    if (type === 'groupchat') return this.bounce(ev.stanza, ev.from, ev.origin, new StanzaError('service-unavailable'));
    // headline and error: silently dropped.
  }

  /** RFC 6121 §8.5.2: message to an account's bare JID. */
  async messageToBare(ev: RouteEvent): Promise<void> {
    const type = ev.stanza.attrs.type ?? 'normal';
    if (type === 'error') return;
    if (type === 'groupchat') return this.bounce(ev.stanza, ev.from, ev.origin, new StanzaError('service-unavailable'));
    const resources = await this.locator.resources(ev.to.bare);
    let delivered = false;
    for (const r of resources) {
      // "Non-negative resources" (§8.5.2.1.1 option b): every available resource with priority >= 0.
      if (!takesBareJidMessages(r)) continue;
      if (r.session !== null) {
        r.session.send(ev.stanza);
        delivered = true;
      } else if (await this.locator.forward(r, ev.stanza)) delivered = true;
    }
    if (delivered) return;
    if (type === 'headline') return;
    if (!(await this.locator.accountExists(ev.to))) {
      return this.bounce(ev.stanza, ev.from, ev.origin, new StanzaError('service-unavailable'));
    }
    const to = ev.to.toBare();
    if (await this.hooks.fire('message/offline', { stanza: ev.stanza, to })) return;
    await this.hooks.fire('message/refused', { stanza: ev.stanza, to });
    await this.bounce(ev.stanza, ev.from, ev.origin, new StanzaError('service-unavailable'));
  }

  private async unhandledAtHost(ev: RouteEvent): Promise<void> {
    // Messages to the server itself that no module claimed: RFC 6121 §8.5.1 allows ignoring them.
    const t = ev.stanza.attrs.type;
    if (t !== 'error' && t !== 'headline' && t !== 'groupchat') this.log.debug(`message to host ignored from ${ev.from.full}`);
  }

  private async iqToFull(ev: RouteEvent): Promise<void> {
    if (await this.deliverToFull(ev)) return;
    const t = ev.stanza.attrs.type;
    if (t === 'get' || t === 'set') await this.bounce(ev.stanza, ev.from, ev.origin, new StanzaError('service-unavailable'));
  }

  private async iqToServer(ev: RouteEvent, atHost: boolean): Promise<void> {
    const t = ev.stanza.attrs.type;
    if (t !== 'get' && t !== 'set') {
      if (t !== 'result' && t !== 'error') await this.bounce(ev.stanza, ev.from, ev.origin, new StanzaError('bad-request', 'iq type must be get, set, result or error'));
      return;
    }
    if (ev.stanza.attrs.id === undefined) return this.bounce(ev.stanza, ev.from, ev.origin, new StanzaError('bad-request', 'iq without id'));
    const isSelf = !atHost && ev.from.bare === ev.to.bare;
    if (!atHost && !isSelf && !(await this.locator.accountExists(ev.to))) {
      return this.bounce(ev.stanza, ev.from, ev.origin, new StanzaError('service-unavailable'));
    }
    const reply = await this.iq.dispatch({ stanza: ev.stanza, from: ev.from, to: ev.to, isSelf, origin: ev.origin }, atHost);
    if (ev.stanza.attrs.to === undefined) delete reply.attrs.from;
    if (ev.origin !== null && ev.origin.open && ev.origin.jid.full === ev.from.full) ev.origin.send(reply);
    else await this.route(reply, ev.to, null);
  }
}
