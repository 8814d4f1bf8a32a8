import { randomHex } from '../../../util/random-token.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { NS_FORWARD } from '../../carbon-copies.js';
import { delayElement } from '../../delay.js';
import { StanzaError } from '../../errors.js';
import { parseXml } from '../../stream/parse-xml.js';
import type { ArchiveStore, ArchivedMessage } from '../xep-0313-mam/archive.js';
import { countResults } from '../xep-0313-mam/count.js';
import { archiveMetadata, pageByIds } from '../xep-0313-mam/extended.js';
import { NS_MAM, NS_RSM, parseQuery } from '../xep-0313-mam/query.js';
import { NS_MUC_USER } from './ns.js';
import { affRank, type Affiliation, type Occupant, type Room } from './room.js';

/** One page of a room's archive: the result messages to send, then the `<fin/>` of the iq result. */
export interface RoomArchivePage {
  messages: XmlElement[];
  fin: XmlElement;
}

/**
 * A XEP-0313 query to a room (§3.3.2 of XEP-0313: the room is the archive),
 * with the fields of `urn:xmpp:mam:2#extended` (before-id, after-id, ids,
 * flip-page) as on user archives.
 * Occupants and members may read it; anyone may read an open room's.
 * Each message is kept with its sender's occupant JID as `peer` and real
 * bare JID as `with` (service.ts), which the `with` filter reads and which
 * readers who may see real JIDs get on each message (§5.1.2).
 * RSM `<max>0</max>` gets `<count/>` as on user archives (count.ts), up to `countLimit`.
 */
export async function queryRoomArchive(
  archive: ArchiveStore,
  room: Room,
  asker: { full: string; aff: Affiliation; occupant: Occupant | undefined },
  payload: XmlElement,
  limits: { defaultPageSize: number; maxPageSize: number; countLimit: number },
): Promise<RoomArchivePage> {
  assertMayRead(room, asker);
  const q = parseQuery(payload, limits);
  const filter = senderFilter(room, asker, q.with, q.peer);
  for (const id of q.referencedIds) if ((await archive.get(room.jid, id)) === undefined) throw new StanzaError('item-not-found', `no message '${id}' in this archive`);
  const pageQuery = { ...filter, lower: q.lower, upper: q.upper, max: q.max, reverse: q.backward };
  let items: ArchivedMessage[];
  let complete: boolean;
  if (q.ids !== undefined) {
    ({ items, complete } = await pageByIds(archive, room.jid, q.ids, pageQuery, limits.maxPageSize));
  } else {
    const page = await archive.page(room.jid, pageQuery);
    items = q.backward ? page.items.reverse() : page.items;
    complete = page.complete;
  }
  const realJids = seesRealJids(room, asker);
  const messages = (q.flip ? [...items].reverse() : items).map((m) => {
    const original = parseXml(m.xml);
    original.attrs.xmlns = 'jabber:client';
    // §5.1.2: who may know the senders gets each one's real JID, as in a non-anonymous room's presence; any <x/> kept from the sender goes.
    original.children = original.children.filter((c) => typeof c === 'string' || c.name !== 'x' || c.attrs.xmlns !== NS_MUC_USER);
    if (realJids) original.append(x('x', { xmlns: NS_MUC_USER }, x('item', { jid: m.with })));
    return x(
      'message',
      { id: randomHex(6), from: room.jid, to: asker.full },
      x('result', { xmlns: NS_MAM, queryid: q.queryId, id: m.id }, x('forwarded', { xmlns: NS_FORWARD }, delayElement(m.ts), original)),
    );
  });
  const set = x('set', { xmlns: NS_RSM });
  if (items.length > 0) set.append(x('first', null, items[0]!.id), x('last', null, items[items.length - 1]!.id));
  // Counted with the sender filter this reader gets, not the raw `with`: the room's own JID selects every message.
  const count = q.max === 0 ? await countResults(archive, room.jid, { ...q, ...filter }, limits.countLimit, limits.maxPageSize) : undefined;
  if (count !== undefined) set.append(x('count', null, String(count)));
  return { messages, fin: x('fin', { xmlns: NS_MAM, complete: complete ? 'true' : 'false', stable: 'true' }, set) };
}

/** XEP-0313 §5 metadata of a room's archive, for who may read it. */
export function roomArchiveMetadata(archive: ArchiveStore, room: Room, asker: { aff: Affiliation; occupant: Occupant | undefined }): Promise<XmlElement> {
  assertMayRead(room, asker);
  return archiveMetadata(archive, room.jid);
}

/** Occupants and members may read a room's archive; anyone may read an open room's; outcasts never. */
function assertMayRead(room: Room, asker: { aff: Affiliation; occupant: Occupant | undefined }): void {
  const open = room.config.public && !room.config.membersOnly && room.config.password === '';
  if (asker.aff === 'outcast' || (asker.occupant === undefined && !open && affRank(asker.aff) < affRank('member'))) {
    throw new StanzaError('forbidden', 'only occupants and members may read this archive');
  }
}

/**
 * The archive read for a `with` filter (XEP-0313 §4.1.1): a room's message
 * matches when its publisher does. An occupant JID matches what was sent
 * under that nick, the room's own JID everything (every message is from one
 * of its occupant JIDs), a bare real JID what that account sent, but only for
 * who may see real JIDs: §4.1.1 keeps a semi-anonymous room's visitors from
 * learning who wrote what by asking.
 */
function senderFilter(
  room: Room,
  asker: { aff: Affiliation; occupant: Occupant | undefined },
  withBare: string | undefined,
  withFull: string | undefined,
): { with: string | undefined; peer: string | undefined } {
  if (withBare === undefined || withBare === room.jid) return { with: undefined, peer: withFull };
  if (!seesRealJids(room, asker)) throw new StanzaError('forbidden', 'real JIDs are not shown in this room: filter by occupant JID (room@service/nick)');
  // A room keeps the sender's bare JID, not which of its clients sent: a full JID could not be matched exactly.
  if (withFull !== undefined) throw new StanzaError('feature-not-implemented', "filter a room archive by a sender's bare JID or occupant JID");
  return { with: withBare, peer: undefined };
}

/** Whether `asker` may learn who sent what (§4.1.1, §5.1.2): in a non-anonymous room anyone, else moderators and admins. */
function seesRealJids(room: Room, asker: { aff: Affiliation; occupant: Occupant | undefined }): boolean {
  return room.config.whois === 'anyone' || asker.occupant?.role === 'moderator' || affRank(asker.aff) >= affRank('admin');
}
