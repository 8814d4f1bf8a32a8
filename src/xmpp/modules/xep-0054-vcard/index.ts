import type { Jid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { defineModule } from '../../module.js';
import { parseXml } from '../../stream/parse-xml.js';

export const NS_VCARD = 'vcard-temp';
const SK = 'vcard';
/** The default of `maxBytes`; MUC rooms (XEP-0486) use it too when this module is not loaded. */
export const DEFAULT_VCARD_MAX_BYTES = 128 * 1024;

/** What the vcard module offers modules that depend on it (XEP-0398 writes the avatar into the vCard). */
export interface VcardApi {
  get(owner: Jid): Promise<XmlElement | undefined>;
  /** Stores `vcard` as the account's, as if its owner had set it; false when it is over the size limit. */
  put(owner: Jid, vcard: XmlElement): Promise<boolean>;
  /** Largest vCard accepted, in bytes of XML (the `maxBytes` option): rooms' vCards are held to it too. */
  readonly maxBytes: number;
}

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
    maxBytes: { type: 'number', default: DEFAULT_VCARD_MAX_BYTES, integer: true, min: 1024, doc: 'Largest vCard accepted, in bytes of XML (avatars make them big; the stanza size limit applies too).' },
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

    /** Stores (or, when empty, clears) an account's vCard and tells other modules; false when it is too large. */
    async function store(owner: Jid, given: XmlElement): Promise<boolean> {
      if (given.elements().length === 0 && given.getText().trim() === '') {
        await table.delete(owner.bare, SK);
        await ctx.server.emit('vcard/updated', { owner, vcard: null });
        return true;
      }
      const vcard = x('vCard', { xmlns: NS_VCARD }, ...given.children);
      const xml = vcard.toString();
      if (Buffer.byteLength(xml, 'utf8') > ctx.options.maxBytes) return false;
      await table.put(owner.bare, SK, xml);
      await ctx.server.emit('vcard/updated', { owner, vcard });
      return true;
    }

    ctx.iq(
      'set',
      NS_VCARD,
      'vCard',
      async (req) => {
        if (!req.isSelf) throw new StanzaError('forbidden', 'only the owner may change a vCard');
        if (!(await store(req.to.toBare(), req.payload.clone()))) throw new StanzaError('not-acceptable', `vCard larger than ${ctx.options.maxBytes} bytes`);
        return null;
      },
      'account',
    );

    ctx.provide<VcardApi>({
      async get(owner) {
        const stored = await table.get(owner.bare, SK);
        return stored === undefined ? undefined : parseXml(stored);
      },
      put: store,
      maxBytes: ctx.options.maxBytes,
    });

    ctx.hook('account/deleted', async ({ jid }) => {
      await table.deletePartition(jid.bare);
    });
  },
});
