import { StanzaError } from '../../errors.js';
import type { IqHandler, IqRequest } from '../../module.js';
import { subscribedFrom, type RosterApi } from '../rfc6121-roster/index.js';
import type { PepNotifier } from './notifier.js';
import type { PepStore } from './store.js';

/**
 * RFC 6121 §8.5.1: the server must not tell an entity without a presence
 * subscription whether an account exists; a request to a missing account is
 * answered service-unavailable. Every pubsub request to an account's bare JID
 * would otherwise tell (item-not-found, presence-subscription-required,
 * forbidden, an empty list…), so a requester who may not know of the account
 * gets that same answer instead, as disco does (XEP-0030 §8).
 *
 * Who may know: the owner, a contact the owner shares presence with, and
 * anyone a node of the account is readable by (an open devicelist, a member):
 * such a node already shows the account exists, so it keeps XEP-0060's
 * precise errors. That last test reads the account's nodes, so it is made
 * only on the paths that would reveal something, never on a successful read.
 */
export class AccountPrivacy {
  constructor(
    private readonly store: PepStore,
    private readonly roster: RosterApi,
    private readonly notifier: PepNotifier,
  ) {}

  async mayKnow(req: IqRequest): Promise<boolean> {
    if (req.isSelf) return true;
    const owner = req.to.bare;
    const requester = req.from.bare;
    if (subscribedFrom(await this.roster.store.get(owner, requester))) return true;
    for (const { config } of await this.store.allNodes(owner)) {
      if (await this.notifier.mayRead(owner, config, requester)) return true;
    }
    return false;
  }

  /** service-unavailable, as for a missing account, unless the requester may know of this one. */
  async hideFrom(req: IqRequest): Promise<void> {
    if (!(await this.mayKnow(req))) throw new StanzaError('service-unavailable');
  }

  /**
   * The handler, with its error answers replaced by the missing account's for
   * one who may not know of the account. Its results are left alone: a
   * stranger succeeds only on a node it may read. Handlers that can succeed
   * otherwise (listing one's own subscriptions) call hideFrom themselves.
   */
  guard(handler: IqHandler): IqHandler {
    return async (req) => {
      try {
        return await handler(req);
      } catch (e) {
        if (e instanceof StanzaError) await this.hideFrom(req);
        throw e;
      }
    };
  }
}
