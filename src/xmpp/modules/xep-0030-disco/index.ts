import type { Jid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { defineModule, type Identity, type IqRequest } from '../../module.js';
import { subscribedFrom, type RosterApi } from '../rfc6121-roster/index.js';
import { NS_DISCO_INFO, NS_DISCO_ITEMS, type AccountNodeResolver, type DiscoApi, type DiscoInfo, type DiscoItem, type InfoNodeResolver, type ItemsNodeResolver } from './api.js';

export * from './api.js';

/** Removes `value` from `list` once; the undo function of every `add…`. */
function remover<T>(list: T[], value: T): () => void {
  return () => {
    const i = list.indexOf(value);
    if (i !== -1) list.splice(i, 1);
  };
}

function identityElement(i: Identity): XmlElement {
  return x('identity', { category: i.category, type: i.type, name: i.name });
}

function infoElement(info: DiscoInfo, node: string | undefined): XmlElement {
  return x(
    'query',
    { xmlns: NS_DISCO_INFO, node },
    ...info.identities.map(identityElement),
    ...info.features.map((f) => x('feature', { var: f })),
    ...info.extensions.map((e) => e.clone()),
  );
}

function itemsElement(items: DiscoItem[], node: string | undefined): XmlElement {
  return x('query', { xmlns: NS_DISCO_ITEMS, node }, ...items.map((i) => x('item', { jid: i.jid, name: i.name, node: i.node })));
}

/** XEP-0115 §5.4 forbids duplicate identities and features; modules may register the same one twice. */
function uniqueIdentities(list: Identity[]): Identity[] {
  const seen = new Set<string>();
  return list.filter((i) => {
    const key = `${i.category}/${i.type}/${i.name ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * XEP-0030 Service Discovery for the server and for accounts. What the server
 * supports is read back from what modules registered (`ctx.feature`,
 * `ctx.identity`, `ctx.infoExtension`); nothing is listed by hand here.
 *
 * Accounts: XEP-0030 §8 requires service-unavailable when the requester may
 * not see the account's presence, so that disco does not reveal more than
 * presence would. The roster decides that (subscription 'from' or 'both').
 */
export default defineModule({
  name: 'disco',
  implements: 'XEP-0030',
  depends: ['roster'],
  options: {
    name: { type: 'string', default: 'sori', doc: 'Name of the server/im identity shown in disco#info.' },
    accountInfo: {
      type: 'string',
      default: 'contacts',
      enum: ['contacts', 'everyone'] as const,
      doc: "Who may disco an account's bare JID besides its owner: 'contacts' (those with a presence subscription, XEP-0030 §8) or 'everyone'.",
    },
  },
  start(ctx) {
    const roster = ctx.use<RosterApi>('roster');
    const items: DiscoItem[] = [];
    const infoNodes: InfoNodeResolver[] = [];
    const itemsNodes: ItemsNodeResolver[] = [];
    const accountIdentities: Identity[] = [{ category: 'account', type: 'registered' }];
    const accountItemProviders: ((owner: Jid, requester: Jid) => Promise<DiscoItem[]>)[] = [];
    const accountInfoNodes: AccountNodeResolver<DiscoInfo>[] = [];
    const accountItemsNodes: AccountNodeResolver<DiscoItem[]>[] = [];
    const serverIdentity: Identity = { category: 'server', type: 'im', name: ctx.options.name };

    ctx.identity(serverIdentity);
    ctx.feature(NS_DISCO_INFO, 'both');
    ctx.feature(NS_DISCO_ITEMS, 'both');

    const api: DiscoApi = {
      addItem: (item) => (items.push(item), remover(items, item)),
      addInfoNode: (resolver) => (infoNodes.push(resolver), remover(infoNodes, resolver)),
      addItemsNode: (resolver) => (itemsNodes.push(resolver), remover(itemsNodes, resolver)),
      addAccountIdentity: (identity) => (accountIdentities.push(identity), remover(accountIdentities, identity)),
      addAccountItems: (provider) => (accountItemProviders.push(provider), remover(accountItemProviders, provider)),
      addAccountInfoNode: (resolver) => (accountInfoNodes.push(resolver), remover(accountInfoNodes, resolver)),
      addAccountItemsNode: (resolver) => (accountItemsNodes.push(resolver), remover(accountItemsNodes, resolver)),
      serverInfo: () => ({
        identities: uniqueIdentities(ctx.server.identities()),
        features: [...new Set(ctx.server.features())].sort(),
        extensions: ctx.server.infoExtensions(),
      }),
    };
    ctx.provide(api);

    /**
     * The first resolver that knows an account's node answers. None is
     * item-not-found for those who may disco the account; others get what a
     * missing account answers (§8), or a made-up node would tell them it exists.
     */
    async function accountNode<T>(resolvers: AccountNodeResolver<T>[], req: IqRequest, node: string): Promise<T> {
      for (const resolve of resolvers) {
        const found = await resolve(req.to.toBare(), node, req.from);
        if (found !== null) return found;
      }
      throw new StanzaError((await mayDisco(req)) ? 'item-not-found' : 'service-unavailable');
    }

    /** XEP-0030 §8: the owner, or someone the owner shares presence with. */
    async function mayDisco(req: IqRequest): Promise<boolean> {
      if (req.isSelf || ctx.options.accountInfo === 'everyone') return true;
      return subscribedFrom(await roster.store.get(req.to.bare, req.from.bare));
    }

    ctx.iq(
      'get',
      NS_DISCO_INFO,
      'query',
      async (req) => {
        const node = req.payload.attrs.node;
        if (req.to.local === '') {
          if (node === undefined) return infoElement(api.serverInfo(), undefined);
          for (const resolve of infoNodes) {
            const info = resolve(node, req.from);
            if (info !== null) return infoElement(info, node);
          }
          throw new StanzaError('item-not-found');
        }
        if (node !== undefined) return infoElement(await accountNode(accountInfoNodes, req, node), node);
        if (!(await mayDisco(req))) throw new StanzaError('service-unavailable');
        const info: DiscoInfo = { identities: uniqueIdentities(accountIdentities), features: [...new Set(ctx.server.accountFeatures())].sort(), extensions: [] };
        return infoElement(info, undefined);
      },
      'both',
    );

    ctx.iq(
      'get',
      NS_DISCO_ITEMS,
      'query',
      async (req) => {
        const node = req.payload.attrs.node;
        if (req.to.local === '') {
          if (node === undefined) return itemsElement(items, undefined);
          for (const resolve of itemsNodes) {
            const found = await resolve(node, req.from, req.to);
            if (found !== null) return itemsElement(found, node);
          }
          throw new StanzaError('item-not-found');
        }
        if (node !== undefined) return itemsElement(await accountNode(accountItemsNodes, req, node), node);
        if (!(await mayDisco(req))) throw new StanzaError('service-unavailable');
        const found: DiscoItem[] = [];
        for (const provide of accountItemProviders) found.push(...(await provide(req.to.toBare(), req.from)));
        return itemsElement(found, undefined);
      },
      'both',
    );
  },
});
