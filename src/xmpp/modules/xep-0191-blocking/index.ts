import { tryParseJid, type Jid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { errorReply, StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import { defineModule, type IqRequest } from '../../module.js';
import { SessionKey } from '../../session.js';
import { subscribedFrom, type RosterApi } from '../rfc6121-roster/index.js';
import { Blocklists, matches } from './blocklist.js';
import { randomHex } from '../../../util/random-token.js';

export const NS_BLOCKING = 'urn:xmpp:blocking';
export const NS_BLOCKING_ERRORS = 'urn:xmpp:blocking:errors';

/** What other modules may ask (declare `depends: ['blocking']`). */
export interface BlockingApi {
  /** Whether `ownerBare` has blocked `jid` (XEP-0191 §5 matching). Served from a cache. */
  isBlocked(ownerBare: string, jid: Jid): Promise<boolean>;
}

/** The session has fetched the block list, so it gets pushes (XEP-0191 §3.3). */
const REQUESTED = new SessionKey<boolean>('blocking.requested');

/** Runs before presence, offline storage and delivery. */
const PRIORITY = 100;

/**
 * XEP-0191 Blocking Command. Inbound stanzas from a blocked JID are refused
 * on the routing hooks (presence silently, message and iq get/set with
 * service-unavailable, so that the user appears offline); the user's own
 * stanzas to a blocked JID are answered with not-acceptable + <blocked/> on
 * `stanza/in`; presence the server sends on the user's behalf (broadcasts,
 * probes) is dropped on its way to a blocked JID.
 */
export default defineModule({
  name: 'blocking',
  implements: 'XEP-0191',
  depends: ['roster'],
  options: {
    maxItems: { type: 'number', default: 1000, integer: true, min: 1, doc: 'Most JIDs one account may block.' },
    cacheSize: { type: 'number', default: 10_000, integer: true, min: 0, doc: 'Block lists kept in memory (least recently used are dropped).' },
    cacheSeconds: { type: 'number', default: 30, min: 0, doc: 'How long a cached block list is trusted; bounds staleness after a change made on another cluster node.' },
  },
  tables: [{ name: 'blocklist', description: "XEP-0191 block lists: pk = owner bare JID, sk = blocked JID, value = ''." }],
  start(ctx) {
    const lists = new Blocklists(ctx.table('blocklist'), ctx.options.cacheSize, ctx.options.cacheSeconds * 1000);
    const roster = ctx.use<RosterApi>('roster');
    const server = ctx.server;

    const isBlocked = async (ownerBare: string, jid: Jid): Promise<boolean> => matches(await lists.get(ownerBare), jid);
    /** isBlocked without a promise when the list is in memory, as it usually is. */
    const blockedNow = (ownerBare: string, jid: Jid): boolean | Promise<boolean> => {
      const items = lists.cached(ownerBare);
      return items === undefined ? isBlocked(ownerBare, jid) : matches(items, jid);
    };
    ctx.provide<BlockingApi>({ isBlocked });
    ctx.feature(NS_BLOCKING, 'both');

    const isAccount = (j: Jid): boolean => j.local !== '' && server.isLocalDomain(j.domain);

    // ---- inbound: from a blocked JID to a local account -------------------
    function inbound(ev: RouteEvent): boolean | Promise<boolean> {
      const { from, to } = ev;
      if (from.bare === to.bare || !isAccount(to)) return false;
      // The server itself (pings, pushes) is never subject to a user's block list.
      if (from.local === '' && from.resource === '' && server.isLocalDomain(from.domain)) return false;
      const outbound = outboundBlocked(ev);
      if (outbound !== false) return (async () => (await outbound) || refuseIfBlocked(ev))();
      return refuseIfBlocked(ev);
    }

    /**
     * The slow path, once a caller knows `blocked` is not simply false (the list
     * was not in memory, or it blocks): runs `refuse` if blocked and claims the
     * stanza. Callers test for false first, so the usual answer allocates nothing.
     */
    function whenBlocked(blocked: true | Promise<boolean>, refuse: () => void | Promise<void>): Promise<boolean> {
      return (async () => {
        if (!(await blocked)) return false;
        await refuse();
        return true;
      })();
    }

    function refuseIfBlocked(ev: RouteEvent): boolean | Promise<boolean> {
      const blocked = blockedNow(ev.to.bare, ev.from);
      if (blocked === false) return false;
      return whenBlocked(blocked, () => refuseInbound(ev));
    }

    async function refuseInbound({ stanza, from, to }: RouteEvent): Promise<void> {
      const type = stanza.attrs.type;
      const answer = (stanza.name === 'message' && type !== 'error') || (stanza.name === 'iq' && (type === 'get' || type === 'set'));
      if (answer) {
        const reply = errorReply(stanza, new StanzaError('service-unavailable'));
        reply.attrs.from = to.full;
        reply.attrs.to = from.full;
        await server.route(reply);
      }
    }

    // ---- what the server routes for a user to a JID that user blocked --------
    // §3.3: presence, and messages the server makes on the user's behalf (PEP notifications: mood,
    // avatar, location, OMEMO devices), never reach a blocked contact. The user's own stanzas were
    // refused on the way in; errors still go out (the refusals a blocked sender is owed).
    function outboundBlocked(ev: RouteEvent): boolean | Promise<boolean> {
      const { stanza, from, to } = ev;
      const onBehalf = stanza.name === 'presence' || (stanza.name === 'message' && ev.origin === null && stanza.attrs.type !== 'error');
      if (!onBehalf || !isAccount(from) || from.bare === to.bare) return false;
      return blockedNow(from.bare, to);
    }

    for (const event of ['message/bare', 'message/full', 'presence/bare', 'presence/full', 'iq/bare', 'iq/full'] as const) {
      ctx.hook(event, inbound, PRIORITY);
    }
    ctx.hook('route/remote', outboundBlocked, PRIORITY);

    // ---- outbound: the user's client sends to a blocked JID ----------------
    ctx.hook(
      'stanza/in',
      ({ session, stanza }) => {
        const toAttr = stanza.attrs.to;
        if (toAttr === undefined) return false;
        const to = tryParseJid(toAttr);
        if (to === null || to.bare === session.jid.bare || (to.local === '' && server.isLocalDomain(to.domain))) return false;
        const blocked = blockedNow(session.jid.bare, to);
        if (blocked === false) return false;
        return whenBlocked(blocked, () => {
          const type = stanza.attrs.type;
          if (type !== 'error' && !(stanza.name === 'iq' && type === 'result')) {
            const err = new StanzaError('not-acceptable', undefined, 'cancel', x('blocked', { xmlns: NS_BLOCKING_ERRORS }));
            const reply = errorReply(stanza, err);
            reply.attrs.from = to.full;
            reply.attrs.to = session.jid.full;
            session.send(reply);
          }
        });
      },
      PRIORITY,
    );

    // ---- the protocol ------------------------------------------------------
    function requireSelf(req: IqRequest): void {
      // Another user's block list is private: answer as if nothing were here.
      if (!req.isSelf) throw new StanzaError('service-unavailable');
    }

    function itemJids(payload: XmlElement): string[] {
      const out: string[] = [];
      for (const item of payload.getChildren('item')) {
        const j = tryParseJid(item.attrs.jid);
        if (j === null) throw new StanzaError('jid-malformed', `invalid jid '${item.attrs.jid ?? ''}'`);
        out.push(j.full);
      }
      return [...new Set(out)];
    }

    /** XEP-0191 §3.3: every resource that requested the block list hears of the change. */
    function push(owner: string, change: XmlElement): void {
      for (const s of server.localSessions(owner)) {
        if (s.get(REQUESTED) !== true) continue;
        s.send(x('iq', { type: 'set', id: `block-${randomHex(5)}`, from: owner, to: s.jid.full }, change.clone()));
      }
    }

    /**
     * The user's presence subscribers (RFC 6121 subscription from/both) that `jids` cover, by the
     * §3.2 matching rules: a domain item covers every contact at that domain (and its subdomains).
     */
    async function presenceContacts(owner: string, jids: readonly string[]): Promise<Jid[]> {
      if (jids.length === 0) return [];
      const items = new Set(jids);
      const out: Jid[] = [];
      for (const item of await roster.store.all(owner)) {
        if (!subscribedFrom(item)) continue;
        const contact = tryParseJid(item.jid);
        if (contact !== null && matches(items, contact)) out.push(contact);
      }
      return out;
    }

    /** Sends presence from each available resource of the owner to `contacts`; `build` makes it from the resource's current presence. */
    async function presenceTo(owner: string, contacts: Jid[], build: (current: XmlElement) => XmlElement): Promise<void> {
      if (contacts.length === 0) return;
      for (const r of await server.resources(owner)) {
        if (r.presence === null) continue;
        for (const c of contacts) {
          const p = build(r.presence);
          p.attrs.from = r.full;
          p.attrs.to = c.full;
          await server.route(p);
        }
      }
    }

    ctx.iq(
      'get',
      NS_BLOCKING,
      'blocklist',
      async (req) => {
        requireSelf(req);
        const items = await lists.get(req.to.bare);
        if (req.origin !== null && req.origin.jid.bare === req.to.bare) req.origin.set(REQUESTED, true);
        return x('blocklist', { xmlns: NS_BLOCKING }, ...[...items].sort().map((jid) => x('item', { jid })));
      },
      'account',
    );

    ctx.iq(
      'set',
      NS_BLOCKING,
      'block',
      async (req) => {
        requireSelf(req);
        const owner = req.to.bare;
        const jids = itemJids(req.payload);
        if (jids.length === 0) throw new StanzaError('bad-request', 'block needs at least one item');
        const current = await lists.get(owner);
        const fresh = jids.filter((j) => !current.has(j));
        if (current.size + fresh.length > ctx.options.maxItems) throw new StanzaError('resource-constraint', 'block list full');
        // §3.3: the contact sees the user go offline (only if it could see the user's presence at all).
        // Sent before the block is stored, or the outbound filter above would drop it.
        await presenceTo(owner, await presenceContacts(owner, fresh), () => x('presence', { type: 'unavailable' }));
        await lists.add(owner, fresh);
        push(owner, x('block', { xmlns: NS_BLOCKING }, ...jids.map((jid) => x('item', { jid }))));
        await server.emit('blocking/blocked', { owner: req.to.toBare(), items: req.payload.getChildren('item') });
        return null;
      },
      'account',
    );

    ctx.iq(
      'set',
      NS_BLOCKING,
      'unblock',
      async (req) => {
        requireSelf(req);
        const owner = req.to.bare;
        const jids = itemJids(req.payload);
        const current = await lists.get(owner);
        const removed = jids.length === 0 ? [...current] : jids.filter((j) => current.has(j));
        if (jids.length === 0) await lists.clear(owner);
        else await lists.remove(owner, removed);
        // §3.4: the contact gets the user's current presence back.
        await presenceTo(owner, await presenceContacts(owner, removed), (p) => p.clone());
        push(owner, x('unblock', { xmlns: NS_BLOCKING }, ...jids.map((jid) => x('item', { jid }))));
        return null;
      },
      'account',
    );

    ctx.hook('account/deleted', async ({ jid }) => {
      await lists.clear(jid.bare);
    });
  },
});
