import { parseJid, tryParseJid } from '../util/jid.js';
import type { XmlElement } from '../util/xml.js';
import { StanzaError } from '../xmpp/errors.js';
import type { Resource } from '../xmpp/router/router.js';
import type { Server } from '../xmpp/server.js';
import { takesBareJidMessages } from '../xmpp/session.js';

/**
 * RFC 6121 §8.5.3.2.1 for a stanza that reached a node after its target
 * session had gone, or that sat in the inbox of a node that died: it is
 * handled as if addressed to an unavailable resource, so chat and normal
 * messages end in offline storage and nothing accepted is lost.
 *
 * Apart from the locator because it is routing policy, not cluster plumbing,
 * and because of the one piece of state it needs: a message to the bare JID
 * was copied to every resource, and when several sat on the dead node only
 * the first reclaimed copy may be kept, or the user would find it offline
 * twice.
 */
export class UndeliverableStanzas {
  /** Bare-JID messages already kept from a dead node's inbox, by dead node. */
  private readonly keptOrphans = new Map<string, Set<string>>();

  constructor(
    private readonly server: Server,
    /** The locator's lookup, across the cluster: who else may have received a copy. */
    private readonly resources: (bare: string) => Promise<Resource[]>,
  ) {}

  /** `full` was the target session; `deadNode` is set when the stanza was reclaimed from that node's inbox. */
  async route(stanza: XmlElement, full: string, deadNode: string | null): Promise<void> {
    const from = tryParseJid(stanza.attrs.from);
    if (from === null) return;
    const router = this.server.router;
    const type = stanza.attrs.type;
    if (stanza.name === 'iq') {
      if (type === 'get' || type === 'set') await router.bounce(stanza, from, null, new StanzaError('service-unavailable'));
      return;
    }
    // Presence for a resource that has gone is dropped, as on a single node.
    if (stanza.name !== 'message') return;
    if (type === 'groupchat') return router.bounce(stanza, from, null, new StanzaError('service-unavailable'));
    if (type !== undefined && type !== 'chat' && type !== 'normal') return; // headline, error
    const bare = parseJid(full).toBare();
    // From the account's bare JID: a copy the server made for that one resource (a carbon), nobody else's to have.
    if (from.bare === bare.bare && from.resource === '') return;
    const addressed = tryParseJid(stanza.attrs.to);
    if (addressed !== null && addressed.resource === '') {
      // Sent to the bare JID: the sending node gave a copy to every available resource. Keep
      // this one (offline) only when no other resource can have received it. Resources of the
      // dead node are still listed while its inbox is reclaimed, but their copies are orphans
      // like this one: of those, the first is kept.
      const others = await this.resources(bare.bare);
      if (others.some((r) => r.full !== full && r.node !== deadNode && takesBareJidMessages(r))) return;
      if (deadNode !== null && !this.keepOrphanOnce(deadNode, `${bare.bare}\u0000${stanza.toString()}`)) return;
    }
    await router.messageToBare({ stanza, from, to: bare, origin: null });
  }

  /** The node's cleanup is over (node-dead): no more copies will be reclaimed from its inbox. */
  forget(deadNode: string): void {
    this.keptOrphans.delete(deadNode);
  }

  /** True the first time `copy` is reclaimed from `deadNode`'s inbox. */
  private keepOrphanOnce(deadNode: string, copy: string): boolean {
    let kept = this.keptOrphans.get(deadNode);
    if (kept === undefined) this.keptOrphans.set(deadNode, (kept = new Set()));
    if (kept.has(copy)) return false;
    kept.add(copy);
    return true;
  }
}
