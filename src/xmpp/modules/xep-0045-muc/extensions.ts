import type { Jid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';
import type { ArchiveStore } from '../xep-0313-mam/archive.js';
import type { Occupant, Room } from './room.js';

/** An iq to a room's bare JID that an extension answers. */
export interface RoomIqRequest {
  room: Room;
  from: Jid;
  /** The requester's occupant, when it is in the room. */
  occupant: Occupant | undefined;
  payload: XmlElement;
}

/** What the room service lets extensions do besides answering: tell the room, and reach its archive. */
export interface RoomActions {
  /** Sends a stanza from the room to every session of every occupant (`to` is set per session). */
  broadcast(room: Room, stanza: XmlElement): Promise<void>;
  /** Runs every extension's `relay` on an element that speaks for occupant `o` (a moderator's `<moderated/>` gets its occupant id). */
  relay(room: Room, o: Occupant, el: XmlElement): XmlElement;
  /** The rooms' XEP-0313 archive, or null when archiving is off for the service. */
  readonly archive: ArchiveStore | null;
}

/**
 * What another module adds to every room (XEP-0421 occupant ids, XEP-0425
 * moderation), registered with `MucService.extend`. The room service calls
 * these inside the room's turn, so an extension sees and changes a room in
 * the same order as the occupants do.
 */
export interface RoomExtension {
  /** Features each room lists in its disco#info. */
  readonly features?: readonly string[];
  /**
   * Features the service domain lists too: what every room of the service has
   * for sure (XEP-0421 §4: a service that gives occupant ids in all its rooms says so).
   */
  readonly serviceFeatures?: readonly string[];
  /**
   * Changes what a room relays from occupant `from` (its presence as shown to
   * each recipient, its groupchat and private messages) before it is archived
   * or sent. Synchronous: it runs once per copy on the message path.
   */
  relay?(room: Room, from: Occupant, stanza: XmlElement): void;
  /**
   * Whether a groupchat message with no `<body/>` is still archived (the room keeps only
   * messages with one otherwise): what the extension acts on in `archived`, such as a
   * XEP-0424 retraction, which a room listing the feature must keep for clients to sync.
   */
  archives?(stanza: XmlElement): boolean;
  /**
   * Called when the room has archived a groupchat message of occupant `from`
   * as `id`, before it goes into the history and out to the occupants, and
   * waited for (XEP-0424 retractions are acted on here).
   */
  archived?(room: Room, from: Occupant, stanza: XmlElement, id: string, actions: RoomActions): Promise<void>;
  /** Iq handlers for a room's bare JID, keyed "type namespace element"; they return the result's payload. */
  readonly iq?: Readonly<Record<string, (req: RoomIqRequest, actions: RoomActions) => Promise<XmlElement | undefined>>>;
}
