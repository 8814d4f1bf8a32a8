import { tryParseJid, type Jid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { errorReply, StanzaError } from '../../errors.js';
import { defineModule, type Resource } from '../../module.js';
import { DIRECTED_PRESENCE as DIRECTED, type ClientSession } from '../../session.js';
import { subscribedFrom, subscribedTo, type RosterApi, type RosterItem } from '../rfc6121-roster/index.js';
import { parseXml } from '../../stream/parse-xml.js';
import type { MucApi } from '../xep-0045-muc/index.js';
import { capResumed, DIRECTED_FILTER_PRIORITY, directedAnswers, directedSlots, forgetAllDirected, forgetDirected, leaveLostRooms, onRefusedElsewhere, onRenamedElsewhere, rememberDirected } from './directed.js';

const SUBSCRIPTION_TYPES = new Set(['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed']);


function available(resources: Resource[]): Resource[] {
  return resources.filter((r) => r.presence !== null);
}

/**
 * RFC 6121 §3–§4: subscriptions and presence. Outbound presence is taken from
 * clients on `stanza/in` (before routing); inbound presence for local accounts
 * on `presence/bare` and `presence/full`.
 */
export default defineModule({
  name: 'presence',
  implements: 'RFC 6121 §3 (subscriptions), §4 (presence)',
  depends: ['roster'],
  // Only to leave alone, after this node was declared dead, the rooms it runs itself (see leaveLostRooms).
  optionalDepends: ['muc'],
  options: {
    maxDirected: {
      type: 'number',
      default: 1000,
      integer: true,
      min: 1,
      doc: "Most JIDs one session may have sent directed presence to (RFC 6121 §4.6; each MUC room joined is one, also while a nick change there awaits the room's answer, though a second unanswered change takes another) and not yet unavailable: presence to one more is refused with policy-violation, so that the JIDs it keeps to tell of its unavailable, and its cluster session entry, stay bounded. A session resumed (XEP-0198) on a node with a lower value keeps its oldest targets, and the newer ones it drops are sent unavailable (unless its broadcast presence reaches them) while the client gets policy-violation from each.",
    },
  },
  start(ctx) {
    const roster = ctx.use<RosterApi>('roster');
    const muc = ctx.useIfLoaded<MucApi>('muc');
    const store = roster.store;
    const route = (stanza: XmlElement): Promise<void> => ctx.server.route(stanza);

    /** Sends `stanza` (from the user's full JID) to every contact with a from/both subscription and to the user's other resources. */
    async function broadcast(jid: Jid, stanza: XmlElement, rosterItems?: readonly RosterItem[]): Promise<void> {
      const owner = jid.bare;
      for (const item of rosterItems ?? (await store.all(owner))) {
        if (subscribedFrom(item)) await route(withAddress(stanza, jid.full, item.jid));
      }
      for (const r of await ctx.server.resources(owner)) {
        if (r.full !== jid.full && r.presence !== null) await deliverTo(r, withAddress(stanza, jid.full, r.full));
      }
    }

    /** To one resource as is: routing a subscription stanza again would process it twice. */
    async function deliverTo(r: Resource, stanza: XmlElement): Promise<void> {
      await ctx.server.deliver(r, stanza);
    }

    async function outbound(session: ClientSession, stanza: XmlElement): Promise<boolean> {
      const type = stanza.attrs.type;
      const to = stanza.attrs.to === undefined ? null : tryParseJid(stanza.attrs.to);
      if (stanza.attrs.to !== undefined && to === null) return false; // the router answers jid-malformed
      if (type !== undefined && SUBSCRIPTION_TYPES.has(type)) {
        if (to === null) return true;
        await outboundSubscription(session, stanza, type, to.toBare());
        return true;
      }
      if (type === 'probe') return true; // clients do not probe (RFC 6121 §4.3)
      if (type === 'error') return false;
      if (to === null || (to.bare === session.jid.bare && to.resource === '')) {
        await broadcastPresence(session, stanza, type === 'unavailable');
        return true;
      }
      // Directed presence (§4.6): remember who must hear our unavailable later. A subscriber hears it in
      // the broadcast, unless there is none: a session that never sent broadcast presence sends none.
      // Only a change is announced (the cluster writes it to the session table), not each update to a room.
      const set = session.get(DIRECTED);
      if (type !== 'unavailable') {
        if (set?.has(to.full) === true) rememberDirected(session, to.full, stanza, false);
        else if (session.presence === null || !subscribedFrom(await store.get(session.jid.bare, to.bare))) {
          // Refused rather than forgetting an earlier target: that one would never hear the session go (a ghost in a
          // room, a contact shown online), unseen by the user, while a refused join shows at once and says why.
          // A room counts once however many of its nicks are targets (directedSlots), so the set may be larger.
          if (set !== undefined && set.size >= ctx.options.maxDirected && directedSlots(session, to.full) > ctx.options.maxDirected) {
            session.send(errorReply(stanza, new StanzaError('policy-violation', `presence sent to ${ctx.options.maxDirected} addresses already; send unavailable to one (leave a room) first`, 'modify')));
            return true;
          }
          session.set(DIRECTED, (set ?? new Set<string>()).add(to.full));
          rememberDirected(session, to.full, stanza, true);
          await ctx.server.emit('session/directed', { session });
        }
      } else if (forgetDirected(session, to.full)) {
        await ctx.server.emit('session/directed', { session });
      }
      return false;
    }

    async function broadcastPresence(session: ClientSession, stanza: XmlElement, unavailable: boolean): Promise<void> {
      const out = x('presence', { ...stanza.attrs, to: undefined, from: session.jid.full }, ...stanza.children);
      if (unavailable) {
        const broadcasting = session.presence !== null;
        if (broadcasting) {
          session.presence = null;
          session.priority = null;
          await ctx.server.emit('session/presence', { session });
        }
        await endPresence(session, out, broadcasting);
        return;
      }
      const initial = session.presence === null;
      const wasTakingBareMessages = session.priority !== null && session.priority >= 0;
      const p = Number.parseInt(stanza.getChildText('priority') ?? '0', 10);
      session.priority = Number.isFinite(p) ? Math.max(-128, Math.min(127, p)) : 0;
      // Kept for the session's lifetime: a copy of its own, at its exact size, rather than `out`, whose children the parser grew.
      session.presence = out.clone();
      await ctx.server.emit('session/presence', { session });
      // One roster read serves the broadcast and, for initial presence, the probes: it is a range read per login.
      const owner = session.jid.bare;
      const items = await store.all(owner);
      // §4.2.2, §4.4.2: the sending resource too ("an entity is implicitly subscribed to its own presence").
      session.send(withAddress(out, session.jid.full, session.jid.full));
      await broadcast(session.jid, out, items);
      if (!initial) {
        // From a negative priority to a usable one: now it takes messages to the bare JID (and what waited offline).
        if (!wasTakingBareMessages && session.priority >= 0) await ctx.server.emit('session/available', { session });
        return;
      }
      // §4.2: initial presence — probe contacts we subscribe to, show our other resources, redeliver pending requests.
      // §3.1.2: and send again our requests still unanswered, which may have been lost on the way (the contact's
      // server delivers a request only once, Appendix A.3.1).
      for (const item of items) {
        if (subscribedTo(item)) await route(x('presence', { type: 'probe', from: owner, to: item.jid }));
        else if (item.ask) await route(x('presence', { type: 'subscribe', from: owner, to: item.jid }));
      }
      for (const r of available(await ctx.server.resources(owner))) {
        if (r.full !== session.jid.full) session.send(withAddress(r.presence!, r.full, session.jid.full));
      }
      for (const p of await store.allPending(owner)) session.send(parseXml(p.stanza));
      if (session.priority >= 0) await ctx.server.emit('session/available', { session });
    }

    /**
     * The session's unavailable `stanza` to its subscribers and the user's other resources when it had
     * broadcast presence (`broadcasting`), and to whoever it sent directed presence to (§4.6.3): once each.
     */
    async function endPresence(session: ClientSession, stanza: XmlElement, broadcasting: boolean): Promise<void> {
      const directed = forgetAllDirected(session);
      if (directed !== undefined && directed.size > 0) await ctx.server.emit('session/directed', { session });
      await sayUnavailable(session.jid, stanza, broadcasting, directed ?? []);
    }

    /** `endPresence` for the session `jid`, which had sent directed presence to `directed` (full JIDs). */
    async function sayUnavailable(jid: Jid, stanza: XmlElement, broadcasting: boolean, directed: Iterable<string>): Promise<void> {
      const heard = new Set<string>();
      if (broadcasting) {
        const items = await store.all(jid.bare);
        await broadcast(jid, stanza, items);
        for (const item of items) if (subscribedFrom(item)) heard.add(item.jid);
        heard.add(jid.bare);
      }
      for (const full of directed) {
        if (!heard.has(tryParseJid(full)?.bare ?? full)) await route(withAddress(stanza, jid.full, full));
      }
    }

    /** Unavailable presence from each available resource of `owner` to `contact` (it no longer receives the owner's presence). */
    async function goneFor(owner: string, contact: string): Promise<XmlElement[]> {
      return available(await ctx.server.resources(owner)).map((r) => x('presence', { type: 'unavailable', from: r.full, to: contact }));
    }

    /**
     * Subscription stanzas are decided under the owner's roster lock, but routed only once it is released:
     * routing runs the contact's inbound handling, which takes the contact's lock, and two accounts doing
     * this to each other at once (or one to itself) must not wait on each other for ever.
     */
    async function outboundSubscription(session: ClientSession, stanza: XmlElement, type: string, contact: Jid): Promise<void> {
      const owner = session.jid.bare;
      // §3.1.2: outbound subscription stanzas carry the user's bare JID.
      const out = x('presence', { type, from: owner, to: contact.bare, id: stanza.attrs.id }, ...stanza.children);
      // What the contact is told: nothing for a pre-approval or its withdrawal (§3.4), which it never heard of.
      const { tellContact, wasSubscriber, rosterFull } = await store.withLock(owner, async () => {
        const item = await store.get(owner, contact.bare);
        // A request or an approval adds the contact to the roster, within roster.maxItems as a roster set is.
        if (item === undefined && (type === 'subscribe' || type === 'subscribed') && (await roster.isFull(owner))) {
          return { tellContact: false, wasSubscriber: false, rosterFull: true };
        }
        const next: RosterItem = item ? { ...item } : { jid: contact.bare, subscription: 'none', groups: [] };
        let tell = true;
        switch (type) {
          case 'subscribe':
            if (subscribedTo(item)) break;
            next.ask = 'subscribe';
            break;
          case 'unsubscribe':
            next.subscription = next.subscription === 'both' ? 'from' : next.subscription === 'to' ? 'none' : next.subscription;
            delete next.ask;
            break;
          case 'subscribed':
            if (await store.hasPending(owner, contact.bare)) {
              await store.removePending(owner, contact.bare);
              next.subscription = next.subscription === 'to' ? 'both' : next.subscription === 'none' ? 'from' : next.subscription;
              delete next.approved;
            } else if (!subscribedFrom(item)) {
              // §3.4: pre-approval of a request that has not come yet: recorded, nothing is sent to the contact.
              next.approved = true;
              tell = false;
            }
            break;
          case 'unsubscribed':
            // Appendix A.2.4: routed only to refuse a pending request or end a subscription.
            tell = subscribedFrom(item) || (await store.hasPending(owner, contact.bare));
            await store.removePending(owner, contact.bare);
            next.subscription = next.subscription === 'both' ? 'to' : next.subscription === 'from' ? 'none' : next.subscription;
            delete next.approved;
            break;
        }
        if (JSON.stringify(next) !== JSON.stringify(item)) {
          if (item !== undefined || type === 'subscribe' || type === 'subscribed') await roster.update(owner, contact.bare, next);
        }
        return { tellContact: tell, wasSubscriber: subscribedFrom(item), rosterFull: false };
      });
      if (rosterFull) session.send(errorReply(stanza, new StanzaError('not-allowed', 'roster is full', 'cancel')));
      if (!tellContact) return;
      await route(out);
      if (type === 'subscribed') {
        // §3.1.5: the new subscriber gets our current presence from every available resource.
        for (const r of available(await ctx.server.resources(owner))) await route(withAddress(r.presence!, r.full, contact.bare));
      } else if (type === 'unsubscribed' && wasSubscriber) {
        // §3.2.2: a subscriber who is dropped sees the user go offline; whoever was refused a request never saw the user online.
        for (const p of await goneFor(owner, contact.bare)) await route(p);
      }
    }

    async function inboundSubscription(stanza: XmlElement, type: string, from: Jid, user: Jid): Promise<void> {
      const owner = user.bare;
      const contact = from.bare;
      const stamped = x('presence', { ...stanza.attrs, from: contact, to: owner }, ...stanza.children);
      const outgoing = await store.withLock(owner, async (): Promise<XmlElement[]> => {
        const item = await store.get(owner, contact);
        switch (type) {
          case 'subscribe': {
            // §3.1.3 (already subscribed: its roster lost the subscription) and §3.4 (pre-approved): the server
            // answers, and with the user's presence, as the user's own approval would (§3.1.5).
            const answer = async (): Promise<XmlElement[]> => [
              x('presence', { type: 'subscribed', from: owner, to: contact }),
              ...available(await ctx.server.resources(owner)).map((r) => withAddress(r.presence!, r.full, contact)),
            ];
            if (subscribedFrom(item)) return answer();
            if (item?.approved) {
              await roster.update(owner, contact, { ...item, subscription: item.subscription === 'to' ? 'both' : 'from', approved: undefined });
              return answer();
            }
            // Appendix A.3.1: a request already pending is not delivered again (the user sees it at each login).
            if (await store.hasPending(owner, contact)) return [];
            await store.addPending(owner, contact, stamped.toString());
            for (const r of available(await ctx.server.resources(owner))) await deliverTo(r, stamped);
            return [];
          }
          case 'subscribed':
            if (item === undefined || !item.ask) return [];
            await roster.update(owner, contact, { ...item, ask: undefined, subscription: item.subscription === 'from' ? 'both' : 'to' });
            break;
          case 'unsubscribe': {
            const wasPending = await store.hasPending(owner, contact);
            await store.removePending(owner, contact);
            // Appendix A.3.2: a withdrawn request is delivered too, so that the user's client stops offering to approve it.
            if (!subscribedFrom(item)) {
              if (wasPending) break;
              return [];
            }
            await roster.update(owner, contact, { ...item!, subscription: item!.subscription === 'both' ? 'to' : 'none' });
            for (const r of await ctx.server.resources(owner)) if (r.interested) await deliverTo(r, stamped);
            // §3.3.3: the former subscriber sees the user go offline.
            return goneFor(owner, contact);
          }
          case 'unsubscribed':
            if (item === undefined || (!subscribedTo(item) && !item.ask)) return [];
            await roster.update(owner, contact, { ...item, ask: undefined, subscription: item.subscription === 'both' ? 'from' : item.subscription === 'to' ? 'none' : item.subscription });
            break;
        }
        for (const r of await ctx.server.resources(owner)) if (r.interested) await deliverTo(r, stamped);
        return [];
      });
      for (const p of outgoing) await route(p);
    }

    async function probe(from: Jid, user: Jid): Promise<void> {
      const item = await store.get(user.bare, from.bare);
      if (!subscribedFrom(item)) {
        // §4.3.2: the prober's subscription is stale (or never was): say so, so that its roster is corrected.
        if (from.bare !== user.bare) await route(x('presence', { type: 'unsubscribed', from: user.bare, to: from.bare }));
        return;
      }
      const resources = available(await ctx.server.resources(user.bare));
      for (const r of resources) await route(withAddress(r.presence!, r.full, from.full));
      if (resources.length === 0) await route(x('presence', { type: 'unavailable', from: user.bare, to: from.full }));
    }

    /**
     * §8.5.1: a subscription stanza or probe for an address with no account is not kept for whoever
     * registers the name later; a request or probe is answered with unsubscribed. True when it was that.
     */
    async function noSuchAccount(type: string, from: Jid, to: Jid): Promise<boolean> {
      if (ctx.server.localSessions(to.bare).length > 0 || (await ctx.server.accounts.exists(to.toBare()))) return false;
      if ((type === 'subscribe' || type === 'probe') && from.bare !== to.bare) await route(x('presence', { type: 'unsubscribed', from: to.bare, to: from.bare }));
      return true;
    }

    ctx.hook('stanza/in', ({ session, stanza }) => (stanza.name === 'presence' ? outbound(session, stanza) : false));

    ctx.hook('presence/bare', async ({ stanza, from, to }) => {
      const type = stanza.attrs.type;
      if (type !== undefined && (SUBSCRIPTION_TYPES.has(type) || type === 'probe') && (await noSuchAccount(type, from, to))) return true;
      if (type !== undefined && SUBSCRIPTION_TYPES.has(type)) await inboundSubscription(stanza, type, from, to);
      else if (type === 'probe') await probe(from, to);
      else if (type === undefined || type === 'unavailable') {
        // §4.4.3: broadcast presence from a contact goes to every available resource.
        for (const r of available(await ctx.server.resources(to.bare))) await deliverTo(r, withAddress(stanza, from.full, r.full));
      }
      return true;
    });

    ctx.hook('presence/full', async ({ stanza, from, to }) => {
      const type = stanza.attrs.type;
      if (type !== undefined && (SUBSCRIPTION_TYPES.has(type) || type === 'probe') && (await noSuchAccount(type, from, to))) return true;
      if (type !== undefined && SUBSCRIPTION_TYPES.has(type)) {
        await inboundSubscription(stanza, type, from, to.toBare());
        return true;
      }
      if (type === 'probe') {
        await probe(from, to.toBare());
        return true;
      }
      return false; // directed presence: the router delivers it to that resource (directedAnswer reads answers there)
    });

    // A target's answer to the session's presence is read where it is written to the session, whichever node routed it.
    ctx.outgoingFilter(directedAnswers(ctx.server, ctx.log), DIRECTED_FILTER_PRIORITY);

    // For one release: nodes not yet upgraded still post answers routed there for sessions here.
    ctx.onStop(onRefusedElsewhere(ctx.server));
    ctx.onStop(onRenamedElsewhere(ctx.server));

    // Resumed from another node, with the targets that node's cap let the session keep: this node's applies.
    ctx.hook('session/resumed', ({ session }) =>
      capResumed(ctx.server, session, ctx.options.maxDirected, async (bare) => session.presence !== null && subscribedFrom(await store.get(session.jid.bare, bare))),
    );

    ctx.hook('session/closed', async ({ session }) => {
      if (session.presence === null && !session.get(DIRECTED)?.size) return;
      await endPresence(session, x('presence', { type: 'unavailable', from: session.jid.full }), session.presence !== null);
      session.presence = null;
    });

    // Cluster: a dead node's sessions cannot say goodbye; the survivor that cleaned up after it does (§4.5.2),
    // also to whoever they had sent directed presence to (§4.6.3; MUC rooms they were in among them), as
    // the session table listed them: that node's memory died with it, and the recipients may be anywhere.
    ctx.hook('cluster/sessions-lost', async ({ sessions }) => {
      for (const s of sessions) {
        if (s.available || s.directed.length > 0) await sayUnavailable(s.jid, x('presence', { type: 'unavailable', from: s.jid.full }), s.available, s.directed);
      }
    });

    // Cluster: other nodes may have announced this node's sessions unavailable meanwhile, so
    // broadcast them again. And probe their contacts (§4.3): a contact whose node wrote its
    // entries back before this one did sent its own broadcast to JIDs it could not route yet.
    // Whichever node comes back last thus tells both sides. Directed presence and rooms were
    // undone only when this node had been declared dead (leaveLostRooms). Rooms this node runs went nowhere,
    // or the MUC module's own check evicts them (status 332): it starts with this event and evicts after a round
    // trip to Redis, so they are looked at before any await here, while they are still to be seen.
    ctx.hook('cluster/reconnected', async ({ declaredDead }) => {
      const stillIn = (room: string, full: string): boolean => muc?.occupantNick(room, full) !== undefined;
      const directed = declaredDead ? [...ctx.server.allSessions()].map((s) => leaveLostRooms(s, stillIn)) : [];
      // One roster read and one round of probes per account, however many of its resources are here.
      const rosters = new Map<string, readonly RosterItem[]>();
      for (const s of [...ctx.server.allSessions()]) {
        if (s.presence === null) continue;
        const owner = s.jid.bare;
        const known = rosters.get(owner);
        const items = known ?? (await store.all(owner));
        rosters.set(owner, items);
        await broadcast(s.jid, s.presence, items);
        if (known === undefined) for (const item of items) if (subscribedTo(item)) await route(x('presence', { type: 'probe', from: owner, to: item.jid }));
      }
      // §4.6: each directed-presence target was told the session went unavailable; it hears again what it had.
      for (const { session, resend, left } of directed) {
        if (left) await ctx.server.emit('session/directed', { session });
        for (const [full, sent] of resend) await route(withAddress(sent, session.jid.full, full));
      }
    });
  },
});

function withAddress(stanza: XmlElement, from: string, to: string): XmlElement {
  return stanza.withAttrs({ ...stanza.attrs, from, to });
}
