import { x, type XmlElement } from '../../../util/xml.js';
import { defineModule } from '../../module.js';
import { parseXml } from '../../stream/parse-xml.js';
import { formatDateTime } from '../xep-0313-mam/datetime.js';
import type { ArchivedEvent, MamApi } from '../xep-0313-mam/index.js';

export const NS_RETRACT = 'urn:xmpp:message-retract:1';
const NS_RETRACT_0 = 'urn:xmpp:message-retract:0';
const NS_FASTEN = 'urn:xmpp:fasten:0';
const NS_SID = 'urn:xmpp:sid:0';

/** The message a retraction names, and the version of XEP-0424 it speaks (0: inside `<apply-to/>`, 1: `<retract id/>`). */
interface Retraction {
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

/** Whether an archived message is the one a retraction names: by its origin id (XEP-0359), its own id, or this archive's id for it. */
function named(original: XmlElement, archiveId: string, id: string): boolean {
  return archiveId === id || original.attrs.id === id || original.elements().some((c) => isOriginId(c) && c.attrs.id === id);
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

    async function bury(event: ArchivedEvent, retraction: Retraction): Promise<void> {
      const page = await mam.archive.page(event.owner, { with: event.with, upper: { key: event.id, exclusive: true }, max: depth, reverse: true });
      for (const m of page.items) {
        // The text test first: most candidates are not it, and parsing is the cost.
        if (m.dir !== event.dir || (m.id !== retraction.id && !m.xml.includes(retraction.id))) continue;
        const original = parseXml(m.xml);
        if (!named(original, m.id, retraction.id)) continue;
        if (isTombstone(original) || retractionOf(original) !== null) return;
        const stamp = formatDateTime(Date.now());
        const retracted =
          retraction.ns === NS_RETRACT
            ? x('retracted', { xmlns: NS_RETRACT, stamp })
            : x('retracted', { xmlns: NS_RETRACT_0, by: event.dir === 'out' ? event.owner : event.with, stamp }, ...original.elements().filter(isOriginId).map((c) => c.clone()));
        const tombstone = tombstoneOf(original, retracted, retraction.ns === NS_RETRACT ? isOriginId : () => false);
        await mam.archive.replace(event.owner, m.id, tombstone.toString());
        return;
      }
    }

    ctx.onStop(
      mam.onArchived((event) => {
        const retraction = retractionOf(event.stanza);
        if (retraction === null) return undefined;
        return bury(event, retraction).catch((e: unknown) => ctx.log.warn(`could not replace the message ${event.owner} had retracted (${retraction.id})`, e));
      }),
    );
  },
});
