import { tryParseJid } from '../../../util/jid.js';
import { andThen } from '../../../util/maybe-async.js';
import type { XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import { defineModule, type IqRequest, type Resource } from '../../module.js';
import { CARBONS_ENABLED, takesBareJidMessages, type ClientSession } from '../../session.js';
import { carbonEligible, NS_CARBONS, stripPrivate, wrapCarbon } from '../../carbon-copies.js';

export { NS_CARBONS, carbonEligible, unwrapCarbon, wrapCarbon } from '../../carbon-copies.js';

/** Runs after archiving (MAM, priority ±100) so copies carry the stanza-ids, before default delivery. */
const PRIORITY = -200;

/** Whether carbons are on for a resource, local (session slot) or on another node (session table). */
export function carbonsEnabled(r: Resource): boolean {
  return r.session !== null ? r.session.get(CARBONS_ENABLED) === true : r.carbons === true;
}

/**
 * XEP-0280 Message Carbons (urn:xmpp:carbons:2): each session turns copies on
 * or off; messages a user sends are copied ("sent") to their other
 * carbon-enabled resources, messages a user receives ("received") to those
 * carbon-enabled resources that the RFC 6121 delivery rules did not give the
 * message to. Eligibility: see eligible.ts.
 *
 * Resources may live on other cluster nodes: they are found with
 * `server.resources()` and copies handed over with `server.deliver()`. The flag is
 * kept in the session (CARBONS_ENABLED) and 'session/presence' is fired when
 * it changes, so the cluster session table mirrors it.
 */

export default defineModule({
  name: 'carbons',
  implements: 'XEP-0280',
  start(ctx) {
    const server = ctx.server;
    ctx.feature(NS_CARBONS);

    const toggle = (on: boolean) => async (req: IqRequest) => {
      const session = req.origin;
      // Only the session itself can switch its carbons, addressing its own account or the server (§4).
      if (session === null || req.from.full !== session.jid.full) throw new StanzaError('not-allowed');
      if (!req.isSelf && !(req.to.local === '' && req.to.domain === session.jid.domain)) throw new StanzaError('forbidden');
      if ((session.get(CARBONS_ENABLED) === true) === on) return; // §10.1: repeated requests are not errors
      session.set(CARBONS_ENABLED, on ? true : undefined);
      await server.emit('session/presence', { session });
    };
    ctx.iq('set', NS_CARBONS, 'enable', toggle(true), 'both');
    // XEP-0386: <enable/> inside Bind2, for a session bound inline; nothing is answered.
    ctx.bind2Feature(NS_CARBONS, async (session, el) => {
      if (el.name !== 'enable' || session.get(CARBONS_ENABLED) === true) return;
      session.set(CARBONS_ENABLED, true);
      await server.emit('session/presence', { session });
    });
    ctx.iq('set', NS_CARBONS, 'disable', toggle(false), 'both');

    /**
     * Hands the copies to their resources and waits for them: a copy is
     * written to a local session, or given to the cluster node holding the
     * resource, before the original goes on. Copies are not routed again (no
     * hooks, no bare-JID fallback if a remote resource vanished meanwhile).
     */
    const send = (copies: [Resource, XmlElement][]): false | Promise<false> => (copies.length === 0 ? false : sendCopies(copies));
    const sendCopies = async (copies: [Resource, XmlElement][]): Promise<false> => {
      const results = await Promise.allSettled(copies.map(([r, c]) => server.deliver(r, c)));
      for (const [i, r] of results.entries()) if (r.status === 'rejected') ctx.log.warn(`carbon to ${copies[i]![0].full} failed`, r.reason);
      return false;
    };

    // "sent" (§8): to every carbon-enabled resource of the sender but the sending one.
    ctx.hook(
      'stanza/in',
      ({ session, stanza }) => {
        if (stanza.name !== 'message' || !carbonEligible(stanza, false)) return;
        const to = tryParseJid(stanza.attrs.to);
        // To oneself (or no 'to'): every resource gets it as a received message or a received carbon.
        if (to === null || to.bare === session.jid.bare) return;
        // Usually the resources are known at once and none takes carbons: no promise then.
        return andThen(server.resources(session.jid.bare), (resources) => copySent(session, stanza, resources));
      },
      PRIORITY,
    );

    function copySent(session: ClientSession, stanza: XmlElement, resources: Resource[]): false | Promise<false> {
      const bare = session.jid.bare;
      const copies: [Resource, XmlElement][] = [];
      for (const r of resources) {
        if (r.full === session.jid.full || !carbonsEnabled(r)) continue;
        copies.push([r, wrapCarbon('sent', stanza, bare, r.full)]);
      }
      return send(copies);
    }

    // "received" (§6): to carbon-enabled resources the routing rules skip.
    const received = (ev: RouteEvent): false | Promise<false> | undefined => {
      const stanza = ev.stanza;
      if (stanza.name !== 'message') return;
      if (!carbonEligible(stanza, true)) {
        stripPrivate(stanza);
        return;
      }
      return andThen(server.resources(ev.to.bare), (resources) => copyReceived(ev, resources));
    };

    function copyReceived(ev: RouteEvent, resources: Resource[]): false | Promise<false> {
      const bare = ev.to.bare;
      // A full JID that is bound gets the original; one that is not falls back to the bare JID's rules (RFC 6121 §8.5.3.2.1).
      const direct = ev.to.resource !== '' && resources.some((r) => r.full === ev.to.full) ? ev.to.full : null;
      // Bare JID rules: every available resource with non-negative priority gets the original. With none it is stored
      // offline, and the carbon-enabled resources still get copies: §6 copies to each one the rules skipped, and §2
      // wants every such client to see all inbound messages.
      const copies: [Resource, XmlElement][] = [];
      for (const r of resources) {
        if (!carbonsEnabled(r)) continue;
        if (direct !== null ? r.full === direct : takesBareJidMessages(r)) continue;
        // §8: a message between two resources of the account is not copied back to the one that sent it.
        if (r.full === ev.from.full) continue;
        copies.push([r, wrapCarbon('received', ev.stanza, bare, r.full)]);
      }
      return send(copies);
    }

    ctx.hook('message/bare', received, PRIORITY);
    ctx.hook('message/full', received, PRIORITY);
  },
});
