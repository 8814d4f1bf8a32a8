import { createHmac, randomBytes } from 'node:crypto';
import { x, type XmlElement } from '../../../util/xml.js';
import { defineModule } from '../../module.js';
import type { MucApi } from '../xep-0045-muc/index.js';
import { NS_OCCUPANT_ID } from '../xep-0045-muc/ns.js';
import type { Occupant } from '../xep-0045-muc/room.js';

export { NS_OCCUPANT_ID } from '../xep-0045-muc/ns.js';

const SECRET_PK = 'secret';
const SECRET_SK = 'hmac';

/**
 * XEP-0421 Anonymous unique occupant identifiers for MUCs: every presence
 * and message a room relays carries `<occupant-id/>`, the same for one
 * account in one room across nicks, clients and rejoins, and different in
 * every other room, without showing the real JID. Clients use it to tell
 * that two nicks are one person, to attach reactions and corrections to the
 * right sender, and moderators (XEP-0425) to name whom they acted on.
 *
 * The id is an HMAC of room and bare JID under a secret kept in the store,
 * created by the first node that starts: the same on every node of a
 * cluster and after restarts. An `<occupant-id/>` a client sends is removed
 * (§4: only the room's may be believed).
 */
export default defineModule({
  name: 'occupant-id',
  implements: 'XEP-0421',
  depends: ['muc'],
  tables: [{ name: 'occupant_id_secret', description: 'XEP-0421: the secret occupant ids are derived with (pk "secret", sk "hmac", value hex).' }],
  async start(ctx) {
    const table = ctx.table('occupant_id_secret');
    // ifNotExists: two nodes starting together agree on whichever wrote first.
    await table.put(SECRET_PK, SECRET_SK, randomBytes(32).toString('hex'), { ifNotExists: true });
    const stored = await table.get(SECRET_PK, SECRET_SK);
    if (stored === undefined) throw new Error('occupant-id: the secret could not be read back from the store');
    const secret = Buffer.from(stored, 'hex');
    // One HMAC per occupant, not per relayed copy.
    const ids = new WeakMap<Occupant, string>();
    const idOf = (room: string, o: Occupant): string => {
      let id = ids.get(o);
      if (id === undefined) {
        id = createHmac('sha256', secret).update(`${room}\u0000${o.bare}`).digest('base64url');
        ids.set(o, id);
      }
      return id;
    };

    const muc = ctx.use<MucApi>('muc');
    ctx.onStop(
      muc.service.extend({
        features: [NS_OCCUPANT_ID],
        // Every room gives them: §4 asks the service to say so too.
        serviceFeatures: [NS_OCCUPANT_ID],
        relay(room, from, stanza: XmlElement) {
          stanza.children = stanza.children.filter((c) => typeof c === 'string' || c.name !== 'occupant-id' || c.attrs.xmlns !== NS_OCCUPANT_ID);
          stanza.append(x('occupant-id', { xmlns: NS_OCCUPANT_ID, id: idOf(room.jid, from) }));
        },
      }),
    );
  },
});
