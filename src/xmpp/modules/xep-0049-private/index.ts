import type { Jid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { defineModule } from '../../module.js';
import { parseXml } from '../../stream/parse-xml.js';

const NS_PRIVATE = 'jabber:iq:private';

/** What the private module offers other modules (XEP-0402 bookmark mirroring). */
export interface PrivateApi {
  /** What an account stored under `ns`, or undefined. */
  get(owner: Jid, ns: string): Promise<XmlElement[] | undefined>;
  /** Replaces what an account stored under `ns` (no event: the caller is the one mirroring). */
  put(owner: Jid, ns: string, elements: readonly XmlElement[]): Promise<void>;
}

/** XEP-0049 §2.3: namespaces reserved by Jabber may not be used for private data. */
function reserved(ns: string): boolean {
  return ns.startsWith('jabber:') || ns.startsWith('http://jabber.org/') || ns === 'vcard-temp';
}

/**
 * XEP-0049 Private XML Storage: one row per (account, namespace), holding the
 * serialised child element(s) of that namespace. Only the account itself may
 * read or write (§2.3 "Forbidden"); bookmarks (XEP-0048) are the main user.
 */
export default defineModule({
  name: 'private',
  implements: 'XEP-0049',
  options: {
    maxBytes: { type: 'number', default: 64 * 1024, integer: true, min: 1024, doc: 'Largest fragment stored for one namespace, in bytes of XML.' },
    maxNamespaces: { type: 'number', default: 100, integer: true, min: 1, doc: 'Most namespaces one account may store data under.' },
  },
  tables: [{ name: 'private_xml', description: 'jabber:iq:private: pk = account bare JID, sk = namespace, value = the stored XML fragment(s).' }],
  start(ctx) {
    const table = ctx.table('private_xml');
    ctx.provide<PrivateApi>({
      async get(owner, ns) {
        const stored = await table.get(owner.bare, ns);
        return stored === undefined ? undefined : parseXml(stored).elements();
      },
      async put(owner, ns, elements) {
        await table.put(owner.bare, ns, `<private>${elements.map((e) => e.toString()).join('')}</private>`);
      },
    });
    ctx.feature(NS_PRIVATE, 'both'); // clients look for it on the server's disco as well as the account's

    ctx.iq(
      'get',
      NS_PRIVATE,
      'query',
      async (req) => {
        if (!req.isSelf) throw new StanzaError('forbidden');
        const asked = req.payload.elements();
        if (asked.length !== 1) throw new StanzaError('not-acceptable', 'ask for exactly one namespace');
        const el = asked[0]!;
        const ns = el.attrs.xmlns;
        if (ns === undefined || ns === NS_PRIVATE) throw new StanzaError('not-acceptable', 'the child needs its own namespace');
        if (reserved(ns)) throw new StanzaError('not-acceptable', 'reserved namespace');
        const stored = await table.get(req.to.bare, ns);
        const query = x('query', { xmlns: NS_PRIVATE });
        // Nothing stored: the request's empty element comes back, as XEP-0049 servers have always done.
        if (stored === undefined) return query.append(x(el.name, { xmlns: ns }));
        return query.append(...parseXml(stored).elements());
      },
      'account',
    );

    ctx.iq(
      'set',
      NS_PRIVATE,
      'query',
      async (req) => {
        if (!req.isSelf) throw new StanzaError('forbidden');
        const children = req.payload.elements();
        if (children.length === 0) throw new StanzaError('not-acceptable', 'nothing to store');
        // §2.3: a set MAY carry several elements, all in the same namespace.
        const byNs = new Map<string, string>();
        for (const c of children) {
          const ns = c.attrs.xmlns;
          if (ns === undefined || ns === NS_PRIVATE) throw new StanzaError('not-acceptable', 'each child needs its own namespace');
          if (reserved(ns)) throw new StanzaError('not-acceptable', 'reserved namespace');
          byNs.set(ns, (byNs.get(ns) ?? '') + c.toString());
        }
        const owner = req.to.bare;
        // The quota is only checked when a namespace is new: rewriting bookmarks must not read every row.
        let added = 0;
        for (const ns of byNs.keys()) if ((await table.get(owner, ns)) === undefined) added++;
        if (added > 0) {
          const stored = await table.range(owner, { limit: ctx.options.maxNamespaces + 1 });
          if (stored.length + added > ctx.options.maxNamespaces) throw new StanzaError('resource-constraint', 'too many namespaces stored');
        }
        for (const [ns, fragment] of byNs) {
          // Wrapped in one element so several children of a namespace parse back as one document.
          const xml = `<private>${fragment}</private>`;
          if (Buffer.byteLength(xml, 'utf8') > ctx.options.maxBytes) throw new StanzaError('not-acceptable', `more than ${ctx.options.maxBytes} bytes`);
          byNs.set(ns, xml);
        }
        for (const [ns, xml] of byNs) await table.put(owner, ns, xml);
        for (const ns of byNs.keys()) await ctx.server.emit('private/stored', { owner: req.to.toBare(), namespace: ns, elements: children.filter((c) => c.attrs.xmlns === ns) });
        return null;
      },
      'account',
    );

    ctx.hook('account/deleted', async ({ jid }) => {
      await table.deletePartition(jid.bare);
    });
  },
});
