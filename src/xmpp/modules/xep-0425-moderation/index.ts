import { randomHex } from '../../../util/random-token.js';
import { x } from '../../../util/xml.js';
import { formatDateTime } from '../../../util/xep-0082-datetime.js';
import { StanzaError } from '../../errors.js';
import { defineModule } from '../../module.js';
import { NS_SID } from '../../stanza-id.js';
import { parseXml } from '../../stream/parse-xml.js';
import type { RoomActions, RoomIqRequest } from '../xep-0045-muc/extensions.js';
import type { MucApi } from '../xep-0045-muc/index.js';
import { NS_OCCUPANT_ID } from '../xep-0045-muc/ns.js';
import { NS_RETRACT, tombstoneOf } from '../xep-0424-retraction/index.js';

export const NS_MODERATE = 'urn:xmpp:message-moderate:1';
export { NS_RETRACT };

/**
 * XEP-0425 Moderated Message Retraction (0.3): a room moderator retracts an
 * occupant's message by its room stanza id. The room
 *  - replaces the message in its archive and in the history new occupants
 *    get with a tombstone (`<retracted/>` holding `<moderated/>`), keeping
 *    only the author's occupant id, so the text is gone for everyone who
 *    catches up later;
 *  - tells every occupant with an XEP-0424 `<retract/>` from the room
 *    itself (only the room's are to be believed), and archives that too, so
 *    a client syncing with MAM that already has the message learns of it.
 * The moderator is named by occupant JID, with its occupant id when
 * XEP-0421 is on. Messages the room did not archive have no stanza id and
 * cannot be retracted.
 */
export default defineModule({
  name: 'moderation',
  implements: 'XEP-0425 (0.3), with XEP-0424 retractions',
  depends: ['muc'],
  start(ctx) {
    const muc = ctx.use<MucApi>('muc');
    ctx.onStop(
      muc.service.extend({
        features: [NS_MODERATE],
        iq: { [`set ${NS_MODERATE} moderate`]: moderate },
      }),
    );
  },
});

async function moderate({ room, occupant, payload }: RoomIqRequest, actions: RoomActions): Promise<undefined> {
  if (occupant === undefined || occupant.role !== 'moderator') throw new StanzaError('forbidden', "only moderators may retract other occupants' messages");
  const id = payload.attrs.id;
  if (id === undefined || id === '') throw new StanzaError('bad-request', 'name the message by its stanza id');
  if (payload.getChild('retract', NS_RETRACT) === undefined) throw new StanzaError('feature-not-implemented', 'only retraction is supported');
  const archive = actions.archive;
  const original = room.config.archiving && archive !== null ? await archive.get(room.jid, id) : undefined;
  if (archive === null || original === undefined) throw new StanzaError('item-not-found', 'the room has no message with that stanza id');

  const reason = payload.getChildText('reason');
  const moderated = actions.relay(room, occupant, x('moderated', { xmlns: NS_MODERATE, by: `${room.jid}/${occupant.nick}` }));
  const retracted = x('retracted', { xmlns: NS_RETRACT, stamp: formatDateTime(Date.now()) }, moderated.clone(), reason === undefined ? undefined : x('reason', null, reason));
  // Of the author, only the occupant id stays.
  const tombstone = tombstoneOf(parseXml(original.xml), retracted, (c) => c.attrs.xmlns === NS_OCCUPANT_ID || c.attrs.xmlns === NS_SID);
  await archive.replace(room.jid, id, tombstone.toString());
  room.replaceInHistory(id, tombstone);

  const announcement = x('message', { type: 'groupchat', from: room.jid, id: randomHex(8) }, x('retract', { xmlns: NS_RETRACT, id }, moderated.clone(), reason === undefined ? undefined : x('reason', null, reason)));
  const announcementId = await archive.append(room.jid, { with: room.jid, peer: room.jid, dir: 'in', xml: announcement.toString() });
  announcement.append(x('stanza-id', { xmlns: NS_SID, by: room.jid, id: announcementId }));
  await actions.broadcast(room, announcement);
  return undefined;
}
