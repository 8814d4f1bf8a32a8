import { tryParseJid } from '../../../util/jid.js';
import type { Logger } from '../../../util/log.js';
import { StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import type { ServerApi } from '../../module.js';
import { PlacementQueue } from '../../placement-queue.js';
import { parseXml } from '../../stream/parse-xml.js';
import type { MucService } from './service.js';

/** Topic of stanzas posted to the node that runs their room. */
const TOPIC = 'muc/stanza';
/** A posted stanza may be posted on once more (its room moved meanwhile); after that it bounces. */
const MAX_HOPS = 2;

interface Posted {
  xml: string;
  from: string;
  to: string;
  hops: number;
}

/**
 * Rooms in a cluster: each room runs on one node, the first to get a stanza
 * for it after nobody held it (ServerApi.placement, key = room JID), and only
 * while that node has the room in memory: a stanza that finds no room and
 * creates none gives the claim back once answered (item-not-found). Other
 * nodes post stanzas for it there over the node bus; what the room sends
 * back is routed like any stanza. When the holder dies, the cluster releases
 * its rooms; the next stanza for one claims it again (a persistent room is
 * loaded from the store, its occupants rejoin: XEP-0410 self-pings tell
 * clients that they left). A stanza that finds the room's node gone before the
 * cluster has noticed bounces with service-unavailable. A node that leaves the
 * cluster on purpose lets its rooms go first and tells their occupants (`leave`).
 */
export class RoomPlacement {
  private readonly queue: PlacementQueue;
  /** Set once this node leaves the cluster: it runs no room from then on. */
  private leaving = false;
  /** Rooms dropped here whose claim is yet to be given back in their turn (`onRoomDropped`). */
  private readonly dropped = new Set<string>();

  constructor(
    private readonly server: ServerApi,
    private readonly service: MucService,
    private readonly log: Logger,
  ) {
    this.queue = new PlacementQueue(server, true, log);
    // A room given up here (emptied, destroyed) may start on any node next time. Its claim is given back in the
    // room's turn, after the stanzas queued before, and only if none of them started the room again here: given
    // back at once (a room emptied by a closed session is dropped outside that turn), it could land after a join
    // had used the claim to start the room again, and another node would then start a second copy of it.
    service.onRoomDropped((jid) => {
      if (this.dropped.has(jid)) return;
      this.dropped.add(jid);
      void this.queue.after(jid, () => {
        this.dropped.delete(jid);
        return this.releaseUnlessRunning(jid);
      });
    });
  }

  /**
   * Handles a stanza for a room here when this node runs it, else posts it to the node that does.
   * `postedBy`: the node that posted it here.
   */
  dispatch(ev: RouteEvent, hops = 0, postedBy: string | null = null): Promise<void> {
    const room = ev.to.bare;
    // Leaving a room no node runs: it went with its node, and so did its occupants; starting it again to say
    // so would only keep it here. A dead node's users are announced unavailable to each room they were in.
    const claim = !(ev.stanza.name === 'presence' && ev.stanza.attrs.type === 'unavailable');
    return this.queue.run(room, async (holder) => {
      if (await this.handOver(ev, holder, hops)) return;
      if (holder === null && !claim) return;
      // Its node did not take it: that node is gone or leaving. Ask once more; the room may have a new home.
      this.queue.forget(room);
      const again = await this.queue.lookup(room, claim);
      if (again === null && !claim) return;
      if (await this.handOver(ev, again, hops)) return;
      // Nobody runs it and this node is leaving: the node that posted it here starts it.
      if (again === null && this.leaving && postedBy !== null && (await this.handOver(ev, postedBy, hops))) return;
      await this.service.reject(ev, new StanzaError('service-unavailable', 'the node running this room is unavailable; try again shortly'));
    }, claim);
  }

  /** Stanzas other nodes post here. */
  listen(): () => void {
    return this.server.onNodePost(TOPIC, async (body, fromNode) => {
      const posted = JSON.parse(body) as Posted;
      const from = tryParseJid(posted.from);
      const to = tryParseJid(posted.to);
      if (from === null || to === null) {
        this.log.warn(`muc: dropped a malformed post from node ${fromNode}`);
        return;
      }
      await this.dispatch({ stanza: parseXml(posted.xml), from, to, origin: null }, posted.hops, fromNode);
    });
  }

  /**
   * After this node was cut off from the cluster, its rooms may have been
   * claimed elsewhere: those are evicted here so their occupants rejoin there.
   * Each room is checked in its turn, as `leave` does, so that the holder read
   * is the one its stanzas see: read beside a stanza whose claim was on its
   * way, it could evict the room that stanza was about to join. Rooms are
   * checked side by side: a busy room holds up only its own check.
   */
  async recheck(): Promise<void> {
    await Promise.all(this.service.roomJids().map((jid) => this.queue.after(jid, () => this.recheckRoom(jid))));
  }

  /** In the room's turn. */
  private async recheckRoom(jid: string): Promise<void> {
    // Let go since the list was taken: looking it up would claim it again for a room not running here.
    if (this.service.room(jid) === undefined) return;
    this.queue.forget(jid);
    let holder: string | null;
    try {
      holder = await this.queue.holder(jid);
    } catch (err) {
      this.log.warn(`muc: checking whether ${jid} still runs here failed; it stays`, err);
      return;
    }
    if (holder === this.server.nodeId) return;
    this.log.info(`muc: ${jid} now runs on node ${holder ?? '?'}; evicting its occupants here`);
    await this.service.evict(jid);
  }

  /**
   * This node leaves the cluster (a graceful stop, its own sessions closed):
   * each room it runs is released, then its occupants, on other nodes or
   * servers, are told the service went away (XEP-0045 status 332), so that
   * they rejoin the room on a node that stays. Without it they would still
   * believe themselves in the room until a self-ping told them otherwise.
   */
  async leave(): Promise<void> {
    this.leaving = true;
    this.queue.stopClaiming();
    // In each room's turn: stanzas queued before are handled here first, later ones go to its next node.
    await Promise.all(this.service.roomJids().map((jid) => this.queue.run(jid, async () => {
      await this.release(jid);
      await this.service.evict(jid);
    })));
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Lets other nodes start the room `jid`, which this node no longer runs (Redis failing: logged, the claim stays). */
  private async release(jid: string): Promise<void> {
    this.queue.forget(jid);
    await this.server.releasePlacement(jid).catch((err: unknown) => this.log.warn(`muc: releasing ${jid} failed`, err));
  }

  /** In the room's turn: the room was let go, and no stanza since has started it again here. */
  private async releaseUnlessRunning(jid: string): Promise<void> {
    if (this.service.room(jid) === undefined) await this.release(jid);
  }

  private async handOver(ev: RouteEvent, holder: string | null, hops: number): Promise<boolean> {
    if (holder === this.server.nodeId) {
      // Leaving: a room let go is not started again here.
      if (this.leaving && this.service.room(ev.to.bare) === undefined) return false;
      await this.service.handled(ev);
      // The stanza found no room and made none (a disco query to a misspelt name, a message, a refused join):
      // its claim would hold that name here for ever, nothing else letting go of a room that never ran. A room
      // dropped meanwhile (emptied by this stanza, or by a closed session) is given back by its own turn instead.
      if (!this.dropped.has(ev.to.bare)) await this.releaseUnlessRunning(ev.to.bare);
      return true;
    }
    if (holder === null || hops >= MAX_HOPS) return false;
    const posted: Posted = { xml: ev.stanza.toString(), from: ev.from.full, to: ev.to.full, hops: hops + 1 };
    return this.server.nodePost(holder, TOPIC, JSON.stringify(posted));
  }
}
