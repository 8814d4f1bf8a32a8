import { escapeAttr, x, type XmlElement } from '../../../util/xml.js';
import { formatDateTime } from '../../../util/xep-0082-datetime.js';
import { defineModule } from '../../module.js';
import { NS_SID } from '../../stanza-id.js';
import { parseXml } from '../../stream/parse-xml.js';
import { NS_MUC_USER, NS_OCCUPANT_ID } from '../xep-0045-muc/ns.js';
import type { ArchiveStore, Direction } from '../xep-0313-mam/archive.js';
import type { MamApi } from '../xep-0313-mam/index.js';

export const NS_RETRACT = 'urn:xmpp:message-retract:1';
const NS_RETRACT_0 = 'urn:xmpp:message-retract:0';
const NS_FASTEN = 'urn:xmpp:fasten:0';

/** The message a retraction names, and the version of XEP-0424 it speaks (0: inside `<apply-to/>`, 1: `<retract id/>`). */
export interface Retraction {
  id: string;
  ns: typeof NS_RETRACT | typeof NS_RETRACT_0;
}

export function retractionOf(stanza: XmlElement): Retraction | null {
  for (const c of stanza.children) {
    if (typeof c === 'string') continue;
    if (c.name === 'retract' && c.attrs.xmlns === NS_RETRACT && c.attrs.id) return { id: c.attrs.id, ns: NS_RETRACT };
    if (c.name === 'apply-to' && c.attrs.xmlns === NS_FASTEN && c.attrs.id && c.getChild('retract', NS_RETRACT_0) !== undefined) return { id: c.attrs.id, ns: NS_RETRACT_0 };
  }
  return null;
}

/**
 * An archived message with its content gone: the same type, addresses and
 * id, the children `kept` allows (its ids), and `retracted` saying when and
 * how. XEP-0424 §5 and XEP-0425 (which adds who moderated it).
 */
export function tombstoneOf(original: XmlElement, retracted: XmlElement, kept: (child: XmlElement) => boolean): XmlElement {
  const { type, from, to, id } = original.attrs;
  return x('message', { type, from, to, id }, ...original.elements().filter(kept).map((c) => c.clone()), retracted);
}

const isOriginId = (c: XmlElement): boolean => c.name === 'origin-id' && c.attrs.xmlns === NS_SID;
/** What a tombstone keeps of its message besides the addresses: ids only (its origin id, a room's occupant id of the author). */
const keptOfAuthor = (c: XmlElement): boolean => isOriginId(c) || (c.name === 'occupant-id' && c.attrs.xmlns === NS_OCCUPANT_ID);

/** Whether a message is the one a retraction names by its origin id (XEP-0359) or its own id. */
export function namesMessage(original: XmlElement, id: string): boolean {
  return original.attrs.id === id || original.elements().some((c) => isOriginId(c) && c.attrs.id === id);
}

/**
 * Whether a message is a private message a room relayed (its muc#user `<x/>`): every occupant
 * writes from the room's bare JID, so only the occupant JID says who wrote it (§7).
 */
export function viaRoom(original: XmlElement): boolean {
  return original.getChild('x', NS_MUC_USER) !== undefined;
}

/** The same, for an archived message, which may also be named by this archive's id for it. */
function named(original: XmlElement, archiveId: string, id: string): boolean {
  return archiveId === id || namesMessage(original, id);
}

/** Where a retraction was archived: the archive, the conversation in it (the other party, or a room's author), and who sent it. */
export interface RetractionPlace {
  owner: string;
  with: string;
  /** 'out' when the owner sent the retraction (and so the message). */
  dir: Direction;
  /** The retraction's own archive id: the message is looked for before it. */
  id: string;
  /**
   * Who sent the retraction, as a full JID, when the author is a room occupant: every private message
   * from a room has the room as its bare JID, so there only the occupant JID says who wrote it (§7).
   */
  peer?: string;
}

/**
 * Looks through the latest `depth` messages of the conversation, newest
 * first, for the one `retraction` names, in the same direction (so by the
 * same author), and replaces it in the archive with a tombstone. Returns the
 * message's archive id and its tombstone, or null when none qualified.
 */
export async function buryRetracted(archive: ArchiveStore, at: RetractionPlace, retraction: Retraction, depth: number): Promise<{ id: string; tombstone: XmlElement } | null> {
  const page = await archive.page(at.owner, { with: at.with, upper: { key: at.id, exclusive: true }, max: depth, reverse: true });
  // The archive holds serialised XML, where an id with `&`, `<`, quotes… is written escaped.
  const written = escapeAttr(retraction.id);
  for (const m of page.items) {
    // The text test first: most candidates are not it, and parsing is the cost.
    if (m.dir !== at.dir || (m.id !== retraction.id && !m.xml.includes(written))) continue;
    const original = parseXml(m.xml);
    if (!named(original, m.id, retraction.id)) continue;
    // A private message through a room: only the occupant who wrote it may retract it.
    if (at.peer !== undefined && m.peer !== at.peer && viaRoom(original)) continue;
    if (isTombstone(original) || retractionOf(original) !== null) return null;
    const stamp = formatDateTime(Date.now());
    const retracted =
      retraction.ns === NS_RETRACT
        ? x('retracted', { xmlns: NS_RETRACT, stamp })
        : x('retracted', { xmlns: NS_RETRACT_0, by: at.dir === 'out' ? at.owner : at.with, stamp }, ...original.elements().filter(isOriginId).map((c) => c.clone()));
    const tombstone = tombstoneOf(original, retracted, retraction.ns === NS_RETRACT ? keptOfAuthor : () => false);
    await archive.replace(at.owner, m.id, tombstone.toString());
    return { id: m.id, tombstone };
  }
  return null;
}

const isTombstone = (m: XmlElement): boolean => m.getChild('retracted', NS_RETRACT) !== undefined || m.getChild('retracted', NS_RETRACT_0) !== undefined;

/**
 * XEP-0424 Message Retraction, on the server's side: when a retraction is
 * archived, the message it names is replaced in that same archive by a
 * tombstone, so a device that catches up later (MAM) gets neither the text
 * nor anything else of it, only that it was retracted and when. The
 * retraction itself stays archived (§6: clients that already hold the
 * message learn of it from there).
 *
 * Only a message of the same conversation in the same direction qualifies:
 * in the owner's archive with contact C, a retraction the owner sent
 * replaces only a message the owner sent, and one from C only a message
 * from C (§6: the same bare JID). The sender's address is the server's, not
 * the client's, so it cannot be forged. Each archive does this for itself
 * as it archives the retraction (the sender's, and the recipient's where
 * that account is local), so it works across cluster nodes and federation.
 *
 * The search is the conversation's latest `searchDepth` messages, newest
 * first: one range read of the by-contact partition, made only when a
 * retraction arrives, so the chat path pays nothing for it. The retraction
 * goes on once the tombstone is written, so a client that receives it and
 * then reads the archive finds the tombstone. A failed search or write is
 * logged and the retraction still delivered: it is archived, and clients
 * act on it.
 */
export default defineModule({
  name: 'retraction',
  implements: 'XEP-0424 (tombstones in personal archives)',
  depends: ['mam'],
  defaultEnabled: true,
  options: {
    searchDepth: { type: 'number', default: 500, integer: true, min: 1, doc: "How many of a conversation's latest archived messages a retraction looks through for the one it names; an older message stays as it is (the retraction is archived all the same)." },
  },
  start(ctx) {
    const mam = ctx.use<MamApi>('mam');
    const depth = ctx.options.searchDepth;
    ctx.feature(NS_RETRACT, 'account');
    ctx.feature(`${NS_RETRACT}#tombstone`, 'account');

    ctx.onStop(
      mam.onArchived((event) => {
        const retraction = retractionOf(event.stanza);
        if (retraction === null) return undefined;
        return buryRetracted(mam.archive, event, retraction, depth).then(() => undefined).catch((e: unknown) => ctx.log.warn(`could not replace the message ${event.owner} had retracted (${retraction.id})`, e));
      }),
    );
  },
});
