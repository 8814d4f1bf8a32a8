import { parseJid } from '../../../util/jid.js';
import type { Logger } from '../../../util/log.js';
import type { XmlElement } from '../../../util/xml.js';
import { StanzaError, type StanzaErrorCondition, type StanzaErrorType } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import type { ServerApi } from '../../module.js';
import { PlacementQueue } from '../../placement-queue.js';
import { parseXml } from '../../stream/parse-xml.js';

/** Topic of the requests a cluster node hands the node that runs the service. */
const TOPIC = 'pubsub/iq';
const TIMEOUT_MS = 10_000;
/** Topic of a deleted account's clean-up, handed to the node that runs the service; it may delete many nodes, hence the longer wait. */
const ACCOUNT_TOPIC = 'pubsub/account-deleted';
const ACCOUNT_TIMEOUT_MS = 60_000;

interface Handed {
  iq: string;
  from: string;
  to: string;
}

/** What the running node answers: a result's payload, or the error the request failed with. */
type Answer = { payload: string | null } | { condition: StanzaErrorCondition; type: StanzaErrorType; text?: string; app?: string };

/**
 * Changes to the service in a cluster: every iq set (create, publish,
 * configure, subscribe…) of a service runs on one node, the holder of the
 * placement `pubsub:<service JID>`, the first node to get one after nobody
 * held it (as a MUC room runs on one node, xep-0045-muc/placement.ts). Its
 * per-node locks then serialise every change to a pubsub node, so two
 * publishes cannot both trim, an item id is never stored twice, and of two
 * creates of one name exactly one succeeds. Other nodes hand it the request
 * and relay its answer; reads (items, disco, lists) are answered by any node
 * from the shared tables. When the holder dies the cluster releases the
 * placement and the next set claims it; a request whose holder went away
 * meanwhile is tried once more with the new holder, then refused with
 * service-unavailable (the client may send it again). Notifications are sent
 * by the node that made the change, once.
 */
export class ServicePlacement {
  private readonly queue: PlacementQueue;

  constructor(
    private readonly server: ServerApi,
    private readonly log: Logger,
    private readonly local: (ev: RouteEvent) => Promise<XmlElement | null>,
    private readonly localAccount: (service: string, bare: string) => Promise<void>,
  ) {
    this.queue = new PlacementQueue(server, true, log);
  }

  /** Answers account clean-ups handed here; returns the undo. */
  listenAccounts(): () => void {
    return this.server.onNodeRequest(ACCOUNT_TOPIC, async (body) => {
      const { service, bare } = JSON.parse(body) as { service: string; bare: string };
      await this.localAccount(service, bare);
      return '';
    });
  }

  /**
   * Runs a deleted account's clean-up at `service` on the node that runs the
   * service, as an iq set, so that it takes the same node locks as a
   * subscribe or an owner's change racing with it. When that node cannot be
   * reached it runs here all the same: the account is gone either way, and
   * each step is idempotent and ordered so that a race leaves at most an
   * index row that reads skip (by-jid.ts), never a subscription left unlisted.
   */
  async accountDeleted(service: string, bare: string): Promise<void> {
    const key = `pubsub:${service}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      const holder = await this.queue.lookup(key);
      if (holder === this.server.nodeId || holder === null) break;
      if ((await this.server.nodeRequest(holder, ACCOUNT_TOPIC, JSON.stringify({ service, bare }), ACCOUNT_TIMEOUT_MS)) !== null) return;
      this.queue.forget(key);
      if (attempt === 1) this.log.warn(`pubsub: the node running ${service} did not clean up after ${bare}; doing it here`);
    }
    await this.localAccount(service, bare);
  }

  /** Answers requests handed here; returns the undo. */
  listen(): () => void {
    return this.server.onNodeRequest(TOPIC, async (body) => {
      const handed = JSON.parse(body) as Handed;
      const ev: RouteEvent = { stanza: parseXml(handed.iq), from: parseJid(handed.from), to: parseJid(handed.to), origin: null };
      let answer: Answer;
      try {
        const payload = await this.local(ev);
        answer = { payload: payload === null ? null : payload.toString() };
      } catch (e) {
        if (!(e instanceof StanzaError)) throw e;
        answer = { condition: e.condition, type: e.type, text: e.text, app: e.appCondition?.toString() };
      }
      return JSON.stringify(answer);
    });
  }

  /** Runs `ev` (an iq set to the service) on the node that runs the service, here or handed over. */
  async run(ev: RouteEvent): Promise<XmlElement | null> {
    const key = `pubsub:${ev.to.domain}`;
    const body = JSON.stringify({ iq: ev.stanza.toString(), from: ev.from.full, to: ev.to.full } satisfies Handed);
    for (let attempt = 0; attempt < 2; attempt++) {
      const holder = await this.queue.lookup(key);
      if (holder === this.server.nodeId) return this.local(ev);
      if (holder === null) break;
      const reply = await this.server.nodeRequest(holder, TOPIC, body, TIMEOUT_MS);
      if (reply !== null) {
        const answer = JSON.parse(reply) as Answer;
        if ('payload' in answer) return answer.payload === null ? null : parseXml(answer.payload);
        throw new StanzaError(answer.condition, answer.text, answer.type, answer.app === undefined ? undefined : parseXml(answer.app));
      }
      // Gone, or not answering: the cluster may have released its placement by now.
      this.queue.forget(key);
    }
    throw new StanzaError('service-unavailable', 'the cluster node running this pubsub service is not reachable; try again');
  }

  /** This node leaves the cluster: it takes no service from now on and lets go of those it runs. */
  async leave(services: Iterable<string>): Promise<void> {
    this.queue.stopClaiming();
    for (const jid of services) {
      const key = `pubsub:${jid}`;
      this.queue.forget(key);
      await this.server.releasePlacement(key);
    }
  }
}
