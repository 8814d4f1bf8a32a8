import { defineModule } from '../../module.js';
import type { MucApi } from '../xep-0045-muc/index.js';
import { buryRetracted, NS_RETRACT, retractionOf } from './index.js';

/**
 * XEP-0424 Message Retraction in rooms: when an occupant retracts its own
 * groupchat message (named by the room's stanza id, or by its origin id),
 * the room replaces that message with a tombstone in its archive and in the
 * history it gives newcomers, as §6 asks of a MUC service ("SHOULD prevent
 * further distribution"), then relays the retraction as usual.
 *
 * The author is told apart by real bare JID, which the room archives with
 * every message, so it holds in semi-anonymous rooms and across nick
 * changes; only that author's messages, the latest `searchDepth` of them,
 * are looked through. Moderators retracting others' messages is XEP-0425
 * (module `moderation`).
 */
export default defineModule({
  name: 'muc-retraction',
  implements: 'XEP-0424 (tombstones in room archives and history)',
  depends: ['muc'],
  defaultEnabled: true,
  options: {
    searchDepth: { type: 'number', default: 500, integer: true, min: 1, doc: "How many of the author's latest messages in a room a retraction looks through for the one it names." },
  },
  start(ctx) {
    const muc = ctx.use<MucApi>('muc');
    const depth = ctx.options.searchDepth;
    ctx.onStop(
      muc.service.extend({
        features: [NS_RETRACT],
        // Kept without a fallback body too: §5 wants the retraction itself in the archive.
        archives: (stanza) => retractionOf(stanza) !== null,
        async archived(room, from, stanza, id, actions) {
          const retraction = retractionOf(stanza);
          if (retraction === null || actions.archive === null) return;
          try {
            const buried = await buryRetracted(actions.archive, { owner: room.jid, with: from.bare, dir: 'in', id }, retraction, depth);
            if (buried !== null) room.replaceInHistory(buried.id, buried.tombstone);
          } catch (e) {
            // The retraction is still archived and relayed: clients act on it.
            ctx.log.warn(`could not replace the message ${from.bare} retracted in ${room.jid} (${retraction.id})`, e);
          }
        },
      }),
    );
  },
});
