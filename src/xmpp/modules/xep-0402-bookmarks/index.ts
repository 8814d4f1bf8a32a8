import { tryParseJid, type Jid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';
import { defineModule } from '../../module.js';
import { PRIVATE_STORAGE_CONFIG } from '../xep-0163-pep/config.js';
import type { PepApi } from '../xep-0163-pep/index.js';
import { NS_PUBSUB } from '../xep-0163-pep/protocol.js';
import type { PrivateApi } from '../xep-0049-private/index.js';
import { legacyStorage, nativeConference, NS_BOOKMARKS, NS_LEGACY, sameConference } from './convert.js';

/**
 * XEP-0402 `#compat`: bookmarks kept through XEP-0402 (PEP, one item per
 * room) and through XEP-0048 in XEP-0049 private storage (one list) are the
 * same bookmarks. A publish or retraction on the PEP node rewrites the
 * private list; a private list stored by an older client is applied to the
 * PEP node item by item, so XEP-0402 clients get notifications. An account
 * whose bookmarks exist only in private storage has them copied to PEP the
 * first time one of its clients asks for the PEP node.
 */
export default defineModule({
  name: 'bookmarks',
  implements: 'XEP-0402 #compat (with XEP-0048 over XEP-0049)',
  depends: ['pep', 'private'],
  start(ctx) {
    const pep = ctx.use<PepApi>('pep');
    const privateStorage = ctx.use<PrivateApi>('private');
    ctx.feature(`${NS_BOOKMARKS}#compat`, 'account');
    /** Accounts whose private list is being applied to PEP: the PEP changes that causes are not mirrored back one by one. */
    const applying = new Set<string>();

    async function writePrivateList(owner: Jid): Promise<void> {
      const items = await pep.items(owner, NS_BOOKMARKS);
      const stored = await privateStorage.get(owner, NS_LEGACY);
      const urls = stored?.find((e) => e.name === 'storage')?.getChildren('url') ?? [];
      await privateStorage.put(owner, NS_LEGACY, [legacyStorage(items, urls)]);
    }

    async function applyPrivateList(owner: Jid, storage: XmlElement): Promise<void> {
      applying.add(owner.bare);
      try {
        const current = new Map((await pep.items(owner, NS_BOOKMARKS)).map((i) => [i.id, i.payload]));
        const wanted = new Map<string, XmlElement>();
        for (const c of storage.getChildren('conference')) {
          const room = tryParseJid(c.attrs.jid);
          if (room === null || room.local === '' || room.resource !== '') continue;
          wanted.set(room.bare, nativeConference(c, current.get(room.bare)));
        }
        // Removals first: a node as full as PEP allows refuses a new bookmark until one goes.
        const gone = [...current.keys()].filter((id) => !wanted.has(id));
        if (gone.length > 0) await pep.retract(owner, NS_BOOKMARKS, gone);
        for (const [id, payload] of wanted) {
          const stored = current.get(id);
          if (stored === undefined || !sameConference(id, stored, payload)) await pep.publish(owner, NS_BOOKMARKS, id, payload, PRIVATE_STORAGE_CONFIG);
        }
      } finally {
        applying.delete(owner.bare);
      }
      // Once, at the end: the list comes back normalised, and with anything published meanwhile.
      await writePrivateList(owner);
    }

    ctx.hook('pep/node-changed', async ({ owner, node }) => {
      if (node === NS_BOOKMARKS && !applying.has(owner.bare)) await writePrivateList(owner);
    });

    ctx.hook('private/stored', async ({ owner, namespace, elements }) => {
      const storage = namespace === NS_LEGACY ? elements.find((e) => e.name === 'storage') : undefined;
      if (storage !== undefined) await applyPrivateList(owner, storage);
    });

    /** Copies a private list to the PEP node of an account that has bookmarks only there. */
    async function migrate(owner: Jid): Promise<false> {
      if ((await pep.items(owner, NS_BOOKMARKS)).length > 0) return false;
      const storage = (await privateStorage.get(owner, NS_LEGACY))?.find((e) => e.name === 'storage');
      if (storage !== undefined && storage.getChildren('conference').length > 0) await applyPrivateList(owner, storage);
      return false;
    }

    // The first request for the PEP node of an account that has only a private list copies it over.
    // Synchronous for every other stanza: this hook sees each one a client sends.
    ctx.hook('stanza/in', ({ session, stanza }) => {
      if (stanza.name !== 'iq' || stanza.attrs.type !== 'get') return false;
      if (stanza.getChild('pubsub', NS_PUBSUB)?.getChild('items')?.attrs.node !== NS_BOOKMARKS) return false;
      const owner = session.jid.toBare();
      if (stanza.attrs.to !== undefined && tryParseJid(stanza.attrs.to)?.bare !== owner.bare) return false;
      return migrate(owner);
    });
  },
});
