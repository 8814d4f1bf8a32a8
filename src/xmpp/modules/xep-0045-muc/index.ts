import type { RouteEvent } from '../../events.js';
import { defineModule } from '../../module.js';
import type { DiscoApi } from '../xep-0030-disco/api.js';
import { DEFAULT_VCARD_MAX_BYTES, type VcardApi } from '../xep-0054-vcard/index.js';
import { ArchiveStore } from '../xep-0313-mam/archive.js';
import { RoomPlacement } from './placement.js';
import { MucService } from './service.js';
import { AFFILIATIONS_TABLE, MUC_TABLES, NICKS_TABLE, ROOM_LIST, ROOMS, RoomStore } from './store.js';

export { MucService } from './service.js';
export { NS_MUC, NS_MUC_ADMIN, NS_MUC_OWNER, NS_MUC_USER } from './ns.js';

/** What the muc module offers other modules and tests. */
export interface MucApi {
  service: MucService;
  /** The service domain of each served domain. */
  domains: ReadonlyMap<string, string>;
  /**
   * The nick the session `realFull` is joined as in the room `roomJid`, if this node runs that room (in a cluster,
   * the node that relays the room's messages), e.g. to tell whether a message the room relays mentions that session's user.
   */
  occupantNick(roomJid: string, realFull: string): string | undefined;
  /** The real bare JID of the occupant `nick` of the room `roomJid`, on the node that runs the room, e.g. to tell a user's own message from another's. */
  occupantBare(roomJid: string, nick: string): string | undefined;
}

/** Stanzas to a service domain are claimed before any module that serves accounts sees them. */
const PRIORITY = 500;

const MAM_TABLES = [
  { name: 'muc_mam', ttl: true, description: 'XEP-0313 archives of MUC rooms (pk room JID, sk archive id).' },
  { name: 'muc_mam_by_with', ttl: true, description: "XEP-0313 room archives by sender's real bare JID (pk room JID + \\u0000 + sender, sk archive id): the `with` filter." },
  { name: 'muc_mam_with_index', ttl: true, description: 'XEP-0313 room archives: senders index of the shared archive store.' },
  { name: 'muc_mam_prefs', description: 'XEP-0313 room archives: preferences slot of the shared archive store (unused).' },
];

/**
 * XEP-0045 Multi-User Chat on `conference.<domain>` (XEP-0249 direct
 * invitations are plain messages between users and need nothing here),
 * XEP-0410 self-ping, XEP-0313 archives of rooms, XEP-0359 stanza ids by the room,
 * XEP-0486 room avatars (vcard-temp on the room's JID), registration with a
 * room and reserved nicks (§7.10, jabber:iq:register on the room's JID).
 *
 * Rooms, their configuration, affiliations and reserved nicks are kept in tables when
 * persistent (pk room JID) and survive restarts; occupants, history and the
 * lock of a room being created live in the memory of the node that runs the
 * room. In a cluster each room runs on one node and the others post its
 * stanzas there (placement.ts).
 */
export default defineModule({
  name: 'muc',
  implements: 'XEP-0045, XEP-0410, XEP-0313 (rooms), XEP-0486',
  depends: ['disco'],
  // Only for its size limit: rooms keep their vCards themselves (XEP-0486), with or without it.
  optionalDepends: ['vcard'],
  options: {
    domain: { type: 'optional-string', doc: 'Service domain; default `conference.<domain>` for every served domain.' },
    name: { type: 'string', default: 'Chatrooms', doc: 'Name of the service in disco.' },
    creation: { type: 'string', default: 'local', enum: ['anyone', 'local', 'admins'] as const, doc: "Who may create rooms: 'local' accounts, 'admins' (server.admins) or 'anyone'." },
    historyLength: { type: 'number', default: 20, integer: true, min: 0, doc: 'Messages of history a new room keeps and sends to joining occupants.' },
    maxHistoryLength: { type: 'number', default: 100, integer: true, min: 0, doc: 'The most history a room may be configured to keep.' },
    defaultPersistent: { type: 'boolean', default: false, doc: 'New rooms are persistent.' },
    defaultPublic: { type: 'boolean', default: true, doc: 'New rooms are listed in disco#items.' },
    archiving: { type: 'boolean', default: true, doc: 'Rooms keep an XEP-0313 archive (each room may turn it off); false removes the feature.' },
    archiveRetentionDays: { type: 'number', default: 0, min: 0, doc: 'Days room archives are kept; 0 keeps them.' },
    defaultPageSize: { type: 'number', default: 50, integer: true, min: 1, doc: 'Room archive messages per page when a query gives no RSM max.' },
    maxPageSize: { type: 'number', default: 250, integer: true, min: 1, doc: 'Most room archive messages per page; a query asking for more (RSM max) gets this many, marked incomplete, and pages on.' },
    countLimit: { type: 'number', default: 1000, integer: true, min: 0, doc: 'Most room archive messages counted to answer an RSM item-count query (max 0, XEP-0059 §2.7); counting reads the rows, so a larger result set gets no `<count/>` (optional in XEP-0313). 0: never count.' },
  },
  tables: [...MUC_TABLES, ...MAM_TABLES],
  start(ctx) {
    const opts = ctx.options;
    const server = ctx.server;
    const disco = ctx.use<DiscoApi>('disco');
    const store = new RoomStore(ctx.table(ROOMS), ctx.table(AFFILIATIONS_TABLE), ctx.table(ROOM_LIST), ctx.table(NICKS_TABLE));
    const archive = opts.archiving
      ? new ArchiveStore({ mam: ctx.table('muc_mam'), byWith: ctx.table('muc_mam_by_with'), withIndex: ctx.table('muc_mam_with_index'), prefs: ctx.table('muc_mam_prefs') }, opts.archiveRetentionDays)
      : null;
    const service = new MucService(
      server,
      store,
      ctx.log,
      {
        name: opts.name,
        creation: opts.creation as 'anyone' | 'local' | 'admins',
        persistent: opts.defaultPersistent,
        public: opts.defaultPublic,
        historyLength: opts.historyLength,
        maxHistoryLength: opts.maxHistoryLength,
        archiving: opts.archiving,
        defaultPageSize: opts.defaultPageSize,
        maxPageSize: opts.maxPageSize,
        countLimit: opts.countLimit,
        // A room's avatar is bounded as an account's is: one limit for an operator to set.
        vcardMaxBytes: ctx.useIfLoaded<VcardApi>('vcard')?.maxBytes ?? DEFAULT_VCARD_MAX_BYTES,
      },
      archive,
    );

    const domains = new Map<string, string>();
    for (const host of server.hosts) domains.set(opts.domain ?? `conference.${host}`, host);
    for (const d of domains.keys()) {
      ctx.onStop(server.addServiceDomain(d));
      ctx.onStop(disco.addItem({ jid: d, name: opts.name }));
    }
    ctx.provide<MucApi>({
      service,
      domains,
      occupantNick: (roomJid, realFull) => service.room(roomJid)?.byReal.get(realFull),
      occupantBare: (roomJid, nick) => service.room(roomJid)?.occupants.get(nick)?.bare,
    });

    const placement = server.clustered ? new RoomPlacement(server, service, ctx.log) : null;
    const claim = (ev: RouteEvent): boolean => {
      if (!domains.has(ev.to.domain)) return false;
      // The service domain itself answers on every node.
      if (placement === null || ev.to.local === '') return service.handle(ev);
      void placement.dispatch(ev);
      return true;
    };
    if (placement !== null) {
      ctx.onStop(placement.listen());
      ctx.hook('cluster/reconnected', () => {
        void placement.recheck().catch((err: unknown) => ctx.log.warn('muc: checking which rooms still run here failed', err));
      });
      ctx.hook('cluster/leaving', () => placement.leave());
    }
    for (const event of ['message/host', 'message/bare', 'message/full', 'presence/host', 'presence/bare', 'presence/full', 'iq/host', 'iq/bare', 'iq/full'] as const) {
      ctx.hook(event, claim, PRIORITY);
    }
    ctx.hook('session/closed', ({ session }) => {
      service.sessionClosed(session.jid.full);
    });
    ctx.onStop(async () => {
      await placement?.idle();
      await service.idle();
    });
  },
});
