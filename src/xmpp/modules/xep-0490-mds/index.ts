import type { XmlElement } from '../../../util/xml.js';
import { errorReply, StanzaError } from '../../errors.js';
import { NS_HINTS } from '../../hints.js';
import { defineModule } from '../../module.js';
import type { ClientSession } from '../../session.js';
import { NS_SID } from '../../stanza-id.js';
import { PRIVATE_STORAGE_CONFIG } from '../xep-0163-pep/config.js';
import type { PepApi } from '../xep-0163-pep/index.js';

/** The PEP node, and the namespace of its `<displayed/>` payload. */
export const NS_MDS = 'urn:xmpp:mds:displayed:0';
export const NS_MDS_ASSIST = 'urn:xmpp:mds:server-assist:0';

/**
 * After the filters that refuse a client's message (blocking at 100), before
 * MAM archives the sender's copy (-100) and carbons copy it (-200): XEP-0490
 * §5.2 wants the element gone before either sees the message, and a message
 * that is refused should not move the user's displayed state.
 */
const PRIORITY = -50;

/** Children that say nothing to the recipient on their own: a message left with only these is empty. */
function isIncidental(el: XmlElement): boolean {
  const ns = el.attrs.xmlns;
  return ns === NS_HINTS || (el.name === 'origin-id' && ns === NS_SID) || el.name === 'thread';
}

function emptyOnceStripped(stanza: XmlElement): boolean {
  for (const c of stanza.children) if (typeof c !== 'string' && !isIncidental(c)) return false;
  return true;
}

/**
 * XEP-0490 Message Displayed Synchronization, server assist (§4.5.3): a client
 * may put `<displayed xmlns='urn:xmpp:mds:displayed:0'/>` into a message it
 * sends anyway (usually an XEP-0333 displayed marker); the element is taken
 * out and published, as the account, to the account's
 * 'urn:xmpp:mds:displayed:0' PEP node with the message's verbatim 'to' as item
 * id, and the message goes on without it. The publish goes through PEP's API,
 * so the account's devices hear of it as of any publish. Plain XEP-0490 needs
 * nothing here: clients publish to PEP themselves.
 *
 * Choices the XEP leaves open:
 *  - the 'to' is the item id whatever it is (§5.2: opaque), so a groupchat
 *    message gives the room's bare JID and a MUC private message the
 *    occupant's full JID, as §4.1 asks; a message without 'to' publishes nothing;
 *  - a message that would be empty once stripped (clients MUST NOT send one,
 *    §4.5.3) is answered bad-request and neither published nor delivered: an
 *    empty message to the contact is what the XEP's design considerations
 *    (§10.2) warn of, and publishing while dropping it silently would make a stanza
 *    addressed to a third party an account operation;
 *  - when the publish fails (PEP limits, the store) the message still goes
 *    and the failure is logged: the contact's marker matters more than the sync.
 */
export default defineModule({
  name: 'mds',
  implements: 'XEP-0490 (server assist)',
  depends: ['pep'],
  start(ctx) {
    const pep = ctx.use<PepApi>('pep');
    ctx.feature(NS_MDS_ASSIST, 'account');
    // One item per chat ever marked: at PEP's item limit, the chat marked longest ago gives way, instead of
    // every new chat's state being refused from then on. Its clients still hold that state themselves.
    pep.dropOldestWhenFull(NS_MDS);

    async function assist(session: ClientSession, stanza: XmlElement, displayed: XmlElement): Promise<boolean> {
      stanza.remove('displayed', NS_MDS);
      if (emptyOnceStripped(stanza)) {
        session.send(errorReply(stanza, new StanzaError('bad-request', `a message carrying only <displayed xmlns='${NS_MDS}'/> is not sent: publish to the node instead`, 'modify')));
        return true;
      }
      const to = stanza.attrs.to;
      if (to === undefined || to === '') return false;
      const owner = session.jid.toBare();
      try {
        await pep.publish(owner, NS_MDS, to, displayed, PRIVATE_STORAGE_CONFIG);
      } catch (e) {
        ctx.log.warn(`displayed state of ${owner.bare} for ${to} not published; the message goes on`, e);
      }
      return false;
    }

    ctx.hook(
      'stanza/in',
      ({ session, stanza }) => {
        if (stanza.name !== 'message') return false;
        // One look at the direct children for every message a client sends; the rest only when the element is there.
        const displayed = stanza.getChildByNS(NS_MDS);
        if (displayed === undefined || displayed.name !== 'displayed' || stanza.attrs.type === 'error') return false;
        return assist(session, stanza, displayed);
      },
      PRIORITY,
    );
  },
});
