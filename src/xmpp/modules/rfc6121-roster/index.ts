import { tryParseJid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { defineModule, type ServerApi } from '../../module.js';
import { RosterStore, subscribedFrom, subscribedTo, type RosterItem } from './store.js';
import { randomHex } from '../../../util/random-token.js';

export type { RosterItem, Subscription } from './store.js';
export { subscribedFrom, subscribedTo } from './store.js';

export const NS_ROSTER = 'jabber:iq:roster';

/** What the presence module (and others) use of the roster. */
export interface RosterApi {
  store: RosterStore;
  /** Persists an item (or removes it when null) and pushes the change to the owner's interested resources. */
  update(owner: string, contact: string, item: RosterItem | null): Promise<void>;
  /** True when the roster holds `maxItems` items and takes no new one. */
  isFull(owner: string): Promise<boolean>;
}

export function itemElement(item: RosterItem): XmlElement {
  return x(
    'item',
    { jid: item.jid, name: item.name, subscription: item.subscription, ask: item.ask, approved: item.approved ? 'true' : undefined },
    ...item.groups.map((g) => x('group', null, g)),
  );
}

/** RFC 6121 §2.1.6: roster pushes go to every interested resource of the owner. */
async function push(server: ServerApi, owner: string, item: XmlElement, ver: string): Promise<void> {
  for (const r of await server.resources(owner)) {
    if (!r.interested) continue;
    const iq = x('iq', { type: 'set', id: `push-${randomHex(5)}`, from: owner, to: r.full }, x('query', { xmlns: NS_ROSTER, ver }, item));
    await server.deliver(r, iq);
  }
}

/**
 * RFC 6121 §3.2, §3.3: `owner` ends its subscription to the item's contact
 * (or its request) and the contact's to it, or refuses the contact's request
 * (`pendingIn`, already dropped); a subscriber then sees the owner go
 * offline. Called with the owner's roster lock released: routing takes the
 * contact's.
 */
async function cancelSubscriptions(server: ServerApi, owner: string, item: RosterItem, pendingIn: boolean): Promise<void> {
  if (subscribedTo(item) || item.ask) {
    await server.route(x('presence', { type: 'unsubscribe', from: owner, to: item.jid }));
  }
  if (subscribedFrom(item) || pendingIn) await server.route(x('presence', { type: 'unsubscribed', from: owner, to: item.jid }));
  if (!subscribedFrom(item)) return;
  for (const r of await server.resources(owner)) {
    if (r.presence !== null) await server.route(x('presence', { type: 'unavailable', from: r.full, to: item.jid }));
  }
}

function parseSetItem(payload: XmlElement): { jid: string; name?: string; groups: string[]; remove: boolean } {
  const items = payload.getChildren('item');
  if (items.length !== 1) throw new StanzaError('bad-request', 'a roster set carries exactly one item');
  const item = items[0]!;
  const jid = tryParseJid(item.attrs.jid);
  if (jid === null || jid.resource !== '') throw new StanzaError('bad-request', 'item jid must be a valid bare JID');
  const groups = item.getChildren('group').map((g) => g.getText());
  if (groups.some((g) => g === '')) throw new StanzaError('not-acceptable', 'empty group name');
  if (new Set(groups).size !== groups.length) throw new StanzaError('bad-request', 'duplicate group');
  if (groups.some((g) => g.length > 1023) || (item.attrs.name?.length ?? 0) > 1023) throw new StanzaError('not-acceptable', 'name or group too long');
  return { jid: jid.bare, name: item.attrs.name || undefined, groups, remove: item.attrs.subscription === 'remove' };
}

/** RFC 6121 §2: roster management with versioning (§2.6) and pre-approval support (§3.4). */
export default defineModule({
  name: 'roster',
  implements: 'RFC 6121 §2 (roster), §2.6 (versioning)',
  options: {
    maxItems: { type: 'number', default: 1000, integer: true, min: 1, doc: 'Most items in one roster.' },
  },
  tables: [
    { name: 'roster', readMostly: true, description: 'Roster items: pk = owner bare JID, sk = contact bare JID.' },
    { name: 'roster_meta', readMostly: true, description: 'Roster version counter: pk = owner bare JID, sk = "version".' },
    { name: 'roster_pending', readMostly: true, description: 'Inbound subscription requests awaiting an answer: pk = owner, sk = contact.' },
  ],
  start(ctx) {
    const store = new RosterStore(ctx.table('roster'), ctx.table('roster_meta'), ctx.table('roster_pending'));

    const api: RosterApi = {
      store,
      async update(owner, contact, item) {
        const ver = item === null ? await store.remove(owner, contact) : await store.put(owner, item);
        await push(ctx.server, owner, item === null ? x('item', { jid: contact, subscription: 'remove' }) : itemElement(item), ver);
      },
      async isFull(owner) {
        return (await store.all(owner)).length >= ctx.options.maxItems;
      },
    };
    ctx.provide(api);

    ctx.streamFeature('post-auth', () => x('ver', { xmlns: 'urn:xmpp:features:rosterver' }));
    ctx.streamFeature('post-auth', () => x('sub', { xmlns: 'urn:xmpp:features:pre-approval' }));

    ctx.iq(
      'get',
      NS_ROSTER,
      'query',
      async (req) => {
        if (!req.isSelf) throw new StanzaError('forbidden', 'a roster belongs to its owner');
        if (req.origin !== null && !req.origin.interested) {
          req.origin.interested = true;
          await ctx.server.emit('session/presence', { session: req.origin });
        }
        const owner = req.from.bare;
        const ver = await store.version(owner);
        const clientVer = req.payload.attrs.ver;
        // §2.6.3: an up-to-date cached roster gets an empty result.
        if (clientVer !== undefined && clientVer === ver) return null;
        const items = await store.all(owner);
        return x('query', { xmlns: NS_ROSTER, ver }, ...items.map(itemElement));
      },
      'account',
    );

    ctx.iq(
      'set',
      NS_ROSTER,
      'query',
      async (req) => {
        if (!req.isSelf) throw new StanzaError('forbidden', 'a roster belongs to its owner');
        const owner = req.from.bare;
        const set = parseSetItem(req.payload);
        const removed = await store.withLock(owner, async (): Promise<{ item: RosterItem; pendingIn: boolean } | null> => {
          const current = await store.get(owner, set.jid);
          if (set.remove) {
            if (current === undefined) throw new StanzaError('item-not-found');
            // The contact's request goes with the item: it would otherwise be offered again at each login.
            const pendingIn = await store.hasPending(owner, set.jid);
            if (pendingIn) await store.removePending(owner, set.jid);
            await api.update(owner, set.jid, null);
            return { item: current, pendingIn };
          }
          if (current === undefined && (await api.isFull(owner))) {
            throw new StanzaError('not-allowed', 'roster is full', 'cancel');
          }
          const item: RosterItem = { ...(current ?? { jid: set.jid, subscription: 'none', groups: [] }), name: set.name, groups: set.groups };
          await api.update(owner, set.jid, item);
          return null;
        });
        // §2.5.2: removing an item also cancels the subscriptions both ways.
        if (removed !== null) await cancelSubscriptions(ctx.server, owner, removed.item, removed.pendingIn);
        return null;
      },
      'account',
    );

    ctx.hook('account/deleted', async ({ jid }) => {
      // XEP-0077 §3.2: a removed account's subscriptions are cancelled, so its contacts' rosters stop
      // sharing presence with the address, and whoever registers the name next inherits none of them.
      const owner = jid.bare;
      const items = await store.all(owner);
      for (const item of items) await cancelSubscriptions(ctx.server, owner, item, false);
      // Requests it never answered: the requester's roster still shows them as asked.
      const answered = new Set(items.filter(subscribedFrom).map((i) => i.jid));
      for (const { contact } of await store.allPending(owner)) {
        if (!answered.has(contact)) await ctx.server.route(x('presence', { type: 'unsubscribed', from: owner, to: contact }));
      }
      await store.deleteAccount(owner);
    });
  },
});
