import type { Jid } from '../../../util/jid.js';
import { x } from '../../../util/xml.js';
import { errorReply, StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import { defineModule } from '../../module.js';
import { SessionKey } from '../../session.js';
import { subscribedFrom, type RosterApi } from '../rfc6121-roster/index.js';
import type { AdhocApi } from '../xep-0050-adhoc/api.js';

export const NS_LAST = 'jabber:iq:last';
const SK = 'last';

/** What is kept per account: when its last resource went away, and the status text it left with. */
interface LastSeen {
  ms: number;
  status: string;
}

/** The status text of a session's `<presence type='unavailable'/>`, seen before the presence module clears the presence. */
const LEAVING_STATUS = new SessionKey<string>('last.status');
/** Set once this session's going away was recorded, so closing after going unavailable does not record it again. */
const RECORDED = new SessionKey<boolean>('last.recorded');

const plural = (n: number, unit: string): string => `${n} ${unit}${n === 1 ? '' : 's'}`;

/** Whole seconds as people read an uptime: "1 day, 2 hours and 3 minutes". */
export function describeUptime(seconds: number): string {
  const minutes = Math.floor(seconds / 60);
  return `${plural(Math.floor(minutes / 1440), 'day')}, ${plural(Math.floor(minutes / 60) % 24, 'hour')} and ${plural(minutes % 60, 'minute')}`;
}

/**
 * XEP-0012 Last Activity, as the server answers it (§4, §5):
 *  - to the server's domain: seconds since the server started;
 *  - to an account's bare JID: 0 while it has an available resource,
 *    otherwise the seconds since its last resource went unavailable, with
 *    the status text it left with ("last seen 3 hours ago" in Gajim and
 *    Psi). Only the owner and contacts who may see its presence get an
 *    answer (§4: forbidden otherwise).
 * A query to a full JID is the client's to answer (its idle time), and is
 * routed to it only from someone who may see the presence: §4 has the server
 * refuse the others with forbidden, or the client would tell a stranger it is
 * online and how long it has been idle.
 * With the adhoc module loaded, the server's uptime is also an XEP-0050
 * command, "uptime" (Prosody's node), for clients with a commands menu.
 */
export default defineModule({
  name: 'last',
  implements: 'XEP-0012',
  depends: ['roster'],
  optionalDepends: ['adhoc'],
  tables: [{ name: 'last_activity', description: 'XEP-0012: pk = account bare JID, sk = "last", value = JSON {ms, status}: when its last resource went unavailable.' }],
  start(ctx) {
    const roster = ctx.use<RosterApi>('roster');
    const table = ctx.table('last_activity');
    const startedMs = Date.now();
    const uptimeSeconds = (): number => Math.floor((Date.now() - startedMs) / 1000);

    const adhoc = ctx.useIfLoaded<AdhocApi>('adhoc');
    if (adhoc !== null) {
      // Anyone: §5 already answers the same number to whoever asks the domain.
      ctx.onStop(
        adhoc.addCommand({
          node: 'uptime',
          name: 'Get uptime',
          allowed: () => true,
          execute: () => ({
            status: 'completed',
            notes: [{ type: 'info', text: `This server has been running for ${describeUptime(uptimeSeconds())} (since ${new Date(startedMs).toISOString()})` }],
          }),
        }),
      );
    }

    /** Whether the account has an available resource besides `except`. */
    async function stillAvailable(bare: string, except?: string): Promise<boolean> {
      return (await ctx.server.resources(bare)).some((r) => r.presence !== null && r.full !== except);
    }

    async function wentAway(jid: Jid, status: string): Promise<void> {
      if (await stillAvailable(jid.bare, jid.full)) return;
      // One row per logout: batched with other writes rather than a store call of its own.
      await table.putBatched(jid.bare, SK, JSON.stringify({ ms: Date.now(), status } satisfies LastSeen));
    }

    // Synchronous, and a few comparisons for every stanza a client sends; ahead of the presence module, which claims presence.
    ctx.hook(
      'stanza/in',
      ({ session, stanza }) => {
        if (stanza.name === 'presence' && stanza.attrs.type === 'unavailable' && stanza.attrs.to === undefined) session.set(LEAVING_STATUS, stanza.getChildText('status') ?? '');
        return false;
      },
      10,
    );
    // Synchronous for an available presence (every login sends one); only going away writes.
    ctx.hook('session/presence', ({ session }) => {
      if (session.presence !== null) {
        session.set(RECORDED, undefined);
        return false;
      }
      session.set(RECORDED, true);
      return wentAway(session.jid, session.get(LEAVING_STATUS) ?? '').then(() => false);
    });
    ctx.hook('session/closed', async ({ session }) => {
      if (session.get(RECORDED) !== true) await wentAway(session.jid, session.get(LEAVING_STATUS) ?? '');
    });
    ctx.hook('cluster/sessions-lost', async ({ sessions }) => {
      for (const s of sessions) if (s.available) await wentAway(s.jid, '');
    });
    ctx.hook('account/deleted', ({ jid }) => table.delete(jid.bare, SK));

    /** Refuses the idle-time query of someone who may not see `to`'s presence; true when it did. */
    async function refuseIdleQuery({ stanza, from, to }: RouteEvent): Promise<boolean> {
      if (subscribedFrom(await roster.store.get(to.bare, from.bare))) return false;
      const reply = errorReply(stanza, new StanzaError('forbidden', "you may not see this account's presence"));
      reply.attrs.from = to.full;
      reply.attrs.to = from.full;
      await ctx.server.route(reply);
      return true;
    }
    // Synchronous for every other iq to a full JID. Below the blocking module's hook, so a blocked sender gets what blocking answers.
    ctx.hook(
      'iq/full',
      (ev) => {
        const { stanza, from, to } = ev;
        if (stanza.attrs.type !== 'get' || from.bare === to.bare || stanza.getChild('query', NS_LAST) === undefined) return false;
        // Occupants of a room and components' users are not accounts here: their services decide.
        if (!ctx.server.isLocalDomain(to.domain)) return false;
        return refuseIdleQuery(ev);
      },
      50,
    );

    ctx.feature(NS_LAST, 'both');
    ctx.iq(
      'get',
      NS_LAST,
      'query',
      async (req) => {
        if (req.to.local === '') return x('query', { xmlns: NS_LAST, seconds: String(uptimeSeconds()) });
        const owner = req.to.bare;
        if (!req.isSelf) {
          if (!subscribedFrom(await roster.store.get(owner, req.from.bare))) throw new StanzaError('forbidden', "you may not see this account's presence");
        }
        if (await stillAvailable(owner)) return x('query', { xmlns: NS_LAST, seconds: '0' });
        const last = await table.getJson<LastSeen>(owner, SK);
        if (last === undefined) throw new StanzaError('item-not-found', 'this account has not been online');
        return x('query', { xmlns: NS_LAST, seconds: String(Math.max(0, Math.floor((Date.now() - last.ms) / 1000))) }, last.status === '' ? undefined : last.status);
      },
      'both',
    );
  },
});
