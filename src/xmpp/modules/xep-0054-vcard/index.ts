import { x } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { defineModule } from '../../module.js';
import { parseXml } from '../../stream/parse-xml.js';

const NS_VCARD = 'vcard-temp';
const SK = 'vcard';

/**
 * XEP-0054 vcard-temp. A vCard is public by design: anyone may read an
 * account's vCard (the router has already answered service-unavailable for
 * accounts that do not exist); only the owner may change it. It is stored as
 * the serialised `<vCard/>` so that what is read back is what was set.
 */
export default defineModule({
  name: 'vcard',
  implements: 'XEP-0054',
  options: {
    maxBytes: { type: 'number', default: 128 * 1024, integer: true, min: 1024, doc: 'Largest vCard accepted, in bytes of XML (avatars make them big; the stanza size limit applies too).' },
  },
  tables: [{ name: 'vcard', description: "vcard-temp: pk = account bare JID, sk = 'vcard', value = the <vCard/> XML." }],
  start(ctx) {
    const table = ctx.table('vcard');
    ctx.feature(NS_VCARD, 'both');

    ctx.iq(
      'get',
      NS_VCARD,
      'vCard',
      async (req) => {
        const stored = await table.get(req.to.bare, SK);
        // XEP-0054 §3.1 allows an empty vCard for "none"; clients handle it better than item-not-found.
        return stored === undefined ? x('vCard', { xmlns: NS_VCARD }) : parseXml(stored);
      },
      'account',
    );

    ctx.iq(
      'set',
      NS_VCARD,
      'vCard',
      async (req) => {
        if (!req.isSelf) throw new StanzaError('forbidden', 'only the owner may change a vCard');
        const vcard = req.payload.clone();
        if (vcard.elements().length === 0 && vcard.getText().trim() === '') {
          await table.delete(req.to.bare, SK);
          return null;
        }
        const xml = x('vCard', { xmlns: NS_VCARD }, ...vcard.children).toString();
        if (Buffer.byteLength(xml, 'utf8') > ctx.options.maxBytes) throw new StanzaError('not-acceptable', `vCard larger than ${ctx.options.maxBytes} bytes`);
        await table.put(req.to.bare, SK, xml);
        return null;
      },
      'account',
    );

    ctx.hook('account/deleted', async ({ jid }) => {
      await table.deletePartition(jid.bare);
    });
  },
});
