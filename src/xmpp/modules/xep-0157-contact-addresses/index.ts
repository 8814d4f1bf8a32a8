import { addressListForm } from '../../../util/data-form.js';
import { defineModule } from '../../module.js';

export const SERVERINFO_FORM_TYPE = 'http://jabber.org/network/serverinfo';
/** The kinds of contact XEP-0157 registers; each becomes a `<kind>-addresses` field. */
const KINDS = ['abuse', 'admin', 'feedback', 'sales', 'security', 'status', 'support'] as const;
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/;

const addresses = (kind: string) => ({ type: 'string[]', default: [], doc: `URIs (mailto:, xmpp:, https:) for ${kind}.` }) as const;

/**
 * XEP-0157 Contact Addresses for XMPP Services: who runs this server and
 * how to reach them (abuse reports, security issues, support), as the
 * XEP-0128 `serverinfo` form of the server's disco#info. Clients such as
 * Conversations and Gajim show them; other servers' operators use them for
 * abuse reports. Nothing is added until an address is configured.
 */
export default defineModule({
  name: 'contact-addresses',
  implements: 'XEP-0157',
  options: {
    abuse: addresses('reports of abusive traffic (spam, harassment)'),
    admin: addresses('the service administrators'),
    feedback: addresses('feedback from users'),
    sales: addresses('sales and marketing'),
    security: addresses('security issues'),
    status: addresses('where the service announces its status (outages, maintenance)'),
    support: addresses('user support'),
  },
  start(ctx) {
    const lists = KINDS.map((kind) => {
      const values = ctx.options[kind];
      for (const v of values) if (!URI.test(v)) throw new Error(`modules.options.contact-addresses.${kind}: '${v}' is not a URI (write mailto:, xmpp: or https:)`);
      return [`${kind}-addresses`, values] as const;
    });
    const form = addressListForm(SERVERINFO_FORM_TYPE, lists);
    if (form !== undefined) ctx.infoExtension(form);
  },
});
