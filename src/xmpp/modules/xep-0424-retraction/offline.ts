import { tryParseJid } from '../../../util/jid.js';
import { escapeAttr, type XmlElement } from '../../../util/xml.js';
import { defineModule } from '../../module.js';
import type { OfflineApi } from '../xep-0160-offline/index.js';
import { namesMessage, retractionOf, viaRoom } from './index.js';

/**
 * XEP-0424 Message Retraction for messages not yet delivered: when a
 * retraction is kept offline for a recipient, the message it names, if it is
 * still waiting in that recipient's offline storage, is taken out, so the
 * recipient's devices never show (or notify) the text the sender took back.
 * Only a message from the same account qualifies (§6: the same bare JID;
 * the sender's address is set by the server, so it cannot be forged); a
 * private message a room relayed, only from the same occupant JID, or any
 * occupant of the room could take back another's.
 *
 * The retraction itself is still kept and delivered: the recipient may have
 * the message from its archive (XEP-0313), where the `retraction` module
 * has replaced it with a tombstone, and clients act on the retraction.
 */
export default defineModule({
  name: 'offline-retraction',
  implements: 'XEP-0424 (retracted messages taken out of offline storage)',
  depends: ['offline'],
  defaultEnabled: true,
  start(ctx) {
    const offline = ctx.use<OfflineApi>('offline');
    // Before offline storage keeps the retraction; it does not claim the message.
    ctx.hook(
      'message/offline',
      ({ stanza, to }) => {
        // Synchronous for every other message: the hook chain stays without a promise for them.
        const retraction = retractionOf(stanza);
        const author = retraction === null ? null : tryParseJid(stanza.attrs.from ?? '');
        if (retraction === null || author === null) return false;
        const fromAuthor = (original: XmlElement): boolean => {
          const from = tryParseJid(original.attrs.from ?? '');
          if (from === null || from.bare !== author.bare || (viaRoom(original) && from.full !== author.full)) return false;
          return retractionOf(original) === null && namesMessage(original, retraction.id);
        };
        // The hint is matched against stored XML, where the id is written escaped.
        return offline.withdraw(to.bare, escapeAttr(retraction.id), fromAuthor).then(
          () => false,
          (e: unknown) => {
            ctx.log.warn(`could not take back the message ${author.bare} retracted from ${to.bare}'s offline storage (${retraction.id})`, e);
            return false;
          },
        );
      },
      10,
    );
  },
});
