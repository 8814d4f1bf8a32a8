import type { Logger } from '../../../util/log.js';
import { randomHex } from '../../../util/random-token.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { errorReply, type StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import type { ServerApi } from '../../module.js';
import type { RoomExtension } from './extensions.js';
import { NS_MUC, NS_MUC_USER } from './ns.js';
import { occupantPresence, type PresenceExtra } from './occupant-presence.js';
import type { Occupant, Room } from './room.js';

/**
 * Everything a room sends: replies, presence as each recipient sees it, and
 * broadcasts. What a room relays from an occupant passes the extensions'
 * `relay` here, so no sender can skip them.
 */
export class RoomOutput {
  readonly extensions: RoomExtension[] = [];

  constructor(
    private readonly server: ServerApi,
    private readonly log: Logger,
  ) {}

  async send(stanza: XmlElement): Promise<void> {
    try {
      await this.server.route(stanza);
    } catch (e) {
      this.log.warn(`muc: could not route ${stanza.toString().slice(0, 200)}`, e);
    }
  }

  /** Error reply to a stanza, from the address it was sent to. */
  async reject(ev: RouteEvent, err: StanzaError): Promise<void> {
    const s = ev.stanza;
    if (s.attrs.type === 'error' || (s.name === 'iq' && s.attrs.type === 'result')) return;
    const reply = errorReply(s, err);
    reply.attrs.from = ev.to.full;
    reply.attrs.to = ev.from.full;
    if (s.name === 'presence') reply.children.unshift(x('x', { xmlns: NS_MUC }));
    await this.send(reply);
  }

  async iqResult(ev: RouteEvent, payload?: XmlElement): Promise<void> {
    await this.send(x('iq', { type: 'result', id: ev.stanza.attrs.id, from: ev.to.full, to: ev.from.full }, payload));
  }

  /** Lets the extensions change what the room relays from `o`. */
  relayed(room: Room, o: Occupant, stanza: XmlElement): XmlElement {
    for (const e of this.extensions) e.relay?.(room, o, stanza);
    return stanza;
  }

  presenceOf(room: Room, o: Occupant, recipient: Occupant | null, toFull: string, extra: PresenceExtra): XmlElement {
    return this.relayed(room, o, occupantPresence(room, o, recipient, toFull, extra));
  }

  /** Sends `o`'s presence to every occupant (and to `o`'s own sessions, also when `o` has just left). */
  async broadcastPresence(room: Room, o: Occupant, extra: PresenceExtra = {}): Promise<void> {
    const recipients = [...room.occupants.values()];
    if (!room.occupants.has(o.nick) || room.occupants.get(o.nick) !== o) recipients.push(o);
    for (const r of recipients) {
      for (const full of r.sessions.keys()) await this.send(this.presenceOf(room, o, r, full, extra));
    }
  }

  /** Sends a stanza from the room to every occupant's sessions. */
  async broadcast(room: Room, stanza: XmlElement): Promise<void> {
    for (const r of room.occupants.values()) {
      for (const full of r.sessions.keys()) {
        const copy = stanza.clone();
        copy.attrs.to = full;
        await this.send(copy);
      }
    }
  }

  /** A message from the room (status codes 104, 170…) to every occupant. */
  async roomNotice(room: Room, codes: number[]): Promise<void> {
    await this.broadcast(room, x('message', { type: 'groupchat', from: room.jid, id: randomHex(6) }, x('x', { xmlns: NS_MUC_USER }, ...codes.map((c) => x('status', { code: String(c) })))));
  }
}
