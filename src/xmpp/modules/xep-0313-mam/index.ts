import { tryParseJid, type Jid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { NS_FORWARD } from '../../carbon-copies.js';
import { delayElement } from '../../delay.js';
import { errorReply, StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import { defineModule, type IqRequest } from '../../module.js';
import { ARCHIVE_QUERIED } from '../../session.js';
import { NS_SID, stanzaIdBy } from '../../stanza-id.js';
import { parseXml } from '../../stream/parse-xml.js';
import type { RosterApi } from '../rfc6121-roster/index.js';
import { ArchiveStore, MAM_TABLES, type ArchivedMessage, type Direction } from './archive.js';
import { prefsAllow, shouldArchive, type DefaultPolicy, type Prefs } from './policy.js';
import { NS_MAM, NS_RSM, parseQuery } from './query.js';
import { archiveMetadata, pageByIds, queryForm } from './extended.js';
import { countResults } from './count.js';
import { randomHex } from '../../../util/random-token.js';
import { RowTooLargeError } from '../../../storage/wide-column.js';

export { NS_MAM } from './query.js';

/** A message just written to an archive. */
export interface ArchivedEvent {
  /** The archive's owner, a bare JID. */
  owner: string;
  /** The other party's bare JID. */
  with: string;
  /** The other party's full JID as on the stanza (a room occupant's room JID and nick). */
  peer: string;
  /** 'out' when the owner sent it. */
  dir: Direction;
  /** Its archive id (the owner's stanza-id). */
  id: string;
  stanza: XmlElement;
}

/** What other modules (carbons, offline, retraction) may use of the archive. */
export interface MamApi {
  archive: ArchiveStore;
  /**
   * Calls `listener` after each message is archived, for modules acting on
   * what an archive holds (XEP-0424 tombstones); returns the undo. A promise
   * it returns is waited for before the message goes on, so what it changes
   * is in the archive by the time anyone receives the message.
   */
  onArchived(listener: (event: ArchivedEvent) => Promise<void> | undefined): () => void;
}

/**
 * Hook priorities. The recipient's copy is archived after the filters that
 * refuse a message (blocking runs at 100: XEP-0313 §5.1 keeps rejected
 * messages out of the archive) and before carbons (-200), offline storage and
 * delivery, so that every copy carries the stanza-id. The sender's copy is
 * archived after every filter of stanza/in (blocking, rate limits).
 */
const INCOMING_PRIORITY = 50;
const OUTGOING_PRIORITY = -100;
/** Before anything hands a message to another server or to a component (which claim at 500). */
const LEAVING_PRIORITY = 1000;

function hasStanzaId(stanza: XmlElement): boolean {
  for (const c of stanza.children) if (typeof c !== 'string' && c.name === 'stanza-id') return true;
  return false;
}

/**
 * XEP-0313 Message Archive Management (urn:xmpp:mam:2 and #extended) with
 * XEP-0359 stanza ids and XEP-0441 preferences, for user archives.
 *
 * Each message is archived twice: in the sender's archive when a local client
 * sends it (`stanza/in`), in the recipient's when it is delivered to a local
 * account (`message/bare`, `message/full`), each with its own time-ordered id.
 * The delivered copy carries `<stanza-id by=recipient>`, the sender's stanza
 * (which carbons copy to its other resources) `<stanza-id by=sender>`.
 *
 * Failure semantics (docs/storage.md, "Message archive"): a message whose
 * archive write fails is not delivered; the sender gets a `wait` error
 * (internal-server-error) and may resend. No message is delivered without
 * being archived, and none is silently dropped.
 */
export default defineModule({
  name: 'mam',
  implements: 'XEP-0313 (urn:xmpp:mam:2, #extended), XEP-0359, XEP-0441',
  depends: ['roster'],
  defaultEnabled: true,
  options: {
    defaultPolicy: { type: 'string', default: 'always', enum: ['always', 'never', 'roster'], doc: 'What is archived for users who set no preferences (XEP-0441 default).' },
    defaultPageSize: { type: 'number', default: 50, integer: true, min: 1, doc: 'Messages per page when a query gives no RSM max.' },
    maxPageSize: { type: 'number', default: 250, integer: true, min: 1, doc: 'Most messages per page; a query asking for more (RSM max) gets this many, marked incomplete, and pages on (XEP-0313 §4.3.1).' },
    countLimit: { type: 'number', default: 1000, integer: true, min: 0, doc: 'Most messages counted to answer an RSM item-count query (max 0, XEP-0059 §2.7); counting reads the rows, so a larger result set gets no `<count/>` (optional in XEP-0313). 0: never count.' },
    retentionDays: { type: 'number', default: 0, min: 0, doc: 'Days archived messages are kept (row TTL on backends that expire rows); 0 keeps them forever.' },
    retentionDaysByDomain: { type: 'record', default: {}, doc: 'Per-domain retention overriding retentionDays: { "example.org": 30 }.' },
  },
  tables: MAM_TABLES,
  start(ctx) {
    const opts = ctx.options;
    if (opts.defaultPageSize > opts.maxPageSize) throw new Error(`modules.options.mam: defaultPageSize (${opts.defaultPageSize}) exceeds maxPageSize (${opts.maxPageSize})`);
    const byDomain = new Map<string, number>();
    for (const [domain, days] of Object.entries(opts.retentionDaysByDomain)) {
      if (typeof days !== 'number' || !(days >= 0)) throw new Error(`modules.options.mam.retentionDaysByDomain.${domain}: got ${JSON.stringify(days)}, expected a number >= 0`);
      byDomain.set(domain, days);
    }
    const archive = new ArchiveStore(
      { mam: ctx.table('mam'), byWith: ctx.table('mam_by_with'), withIndex: ctx.table('mam_with_index'), prefs: ctx.table('mam_prefs') },
      byDomain.size === 0 ? opts.retentionDays : (owner) => byDomain.get(owner.slice(owner.indexOf('@') + 1)) ?? opts.retentionDays,
    );
    const roster = ctx.use<RosterApi>('roster');
    const server = ctx.server;
    const defaultPrefs: Prefs = { default: opts.defaultPolicy as DefaultPolicy, always: [], never: [] };
    /** Copies already archived for their recipient (a module routing the same object again must not archive it twice). */
    const archivedIn = new WeakSet<XmlElement>();
    const archived = ctx.server.metrics.counter('sori_mam_archived_total', 'Messages written to personal archives, by direction (out: the sender\'s copy, in: the recipient\'s).', ['direction']);
    const archivedOut = archived.series('out');
    const archivedInCount = archived.series('in');
    const refused = ctx.server.metrics.counter('sori_mam_write_failures_total', 'Messages refused with an error because their archive write failed (the store is failing).').series();
    let listeners: ((event: ArchivedEvent) => Promise<void> | undefined)[] = [];
    const listenerFailed = (event: ArchivedEvent, e: unknown): void => ctx.log.warn(`an archive listener failed on ${event.owner}'s message ${event.id}`, e);
    /** The message is archived and goes on whatever a listener does; undefined when no listener has work to wait for. */
    const notify = (event: ArchivedEvent): Promise<unknown> | undefined => {
      let pending: Promise<void>[] | undefined;
      for (const listener of listeners) {
        try {
          const work = listener(event);
          if (work !== undefined) (pending ??= []).push(work.catch((e: unknown) => listenerFailed(event, e)));
        } catch (e) {
          listenerFailed(event, e);
        }
      }
      return pending === undefined ? undefined : Promise.all(pending);
    };
    ctx.provide<MamApi>({
      archive,
      onArchived(listener) {
        listeners = [...listeners, listener];
        return () => {
          listeners = listeners.filter((l) => l !== listener);
        };
      },
    });

    ctx.feature(NS_MAM, 'account');
    ctx.feature(`${NS_MAM}#extended`, 'account');
    ctx.feature(NS_SID, 'account');

    const isLocalBy = (by: string | undefined): boolean => {
      const jid = tryParseJid(by);
      return jid !== null && server.isLocalDomain(jid.domain);
    };

    /** XEP-0359 §5: stanza-ids claiming to be by one of our JIDs are only trusted when we added them. */
    const stripLocalStanzaIds = (stanza: XmlElement): void => {
      stanza.children = stanza.children.filter((c) => typeof c === 'string' || c.name !== 'stanza-id' || c.attrs.xmlns !== NS_SID || !isLocalBy(c.attrs.by));
    };

    /** Whether `owner` archives messages with `peer` (the JID on the stanza); without a promise when the preferences are in memory and decide alone. */
    const allowed = (owner: string, peer: Jid): boolean | Promise<boolean> => {
      const cached = archive.cachedPrefs(owner);
      if (cached === undefined) return archive.getPrefs(owner).then((prefs) => decide(owner, peer, prefs));
      return decide(owner, peer, cached.prefs);
    };
    const decide = (owner: string, peer: Jid, prefs: Prefs | undefined): boolean | Promise<boolean> => {
      const withBare = peer.bare;
      const allow = prefsAllow(prefs ?? defaultPrefs, withBare, peer.full);
      return allow === 'roster' ? roster.store.get(owner, withBare).then((item) => item !== undefined) : allow;
    };

    /** Why an archive write failed, for the sender: a message the store can never hold must not be retried. */
    const refusal = (e: unknown): StanzaError =>
      e instanceof RowTooLargeError
        ? new StanzaError('not-acceptable', 'the message is too large to archive: not delivered', 'modify')
        : new StanzaError('internal-server-error', 'the message archive is unavailable: not delivered, retry later', 'wait');

    // The sender's copy.
    ctx.hook(
      'stanza/in',
      ({ session, stanza }) => {
        if (stanza.name !== 'message') return;
        if (hasStanzaId(stanza)) stripLocalStanzaIds(stanza);
        if (!shouldArchive(stanza)) return;
        const to = tryParseJid(stanza.attrs.to);
        const owner = session.jid.bare;
        // No or a malformed 'to': the router answers it; messages to oneself are archived once, on delivery; messages to a server or component are not a conversation.
        if (to === null || to.local === '' || to.bare === owner) return;
        return (async () => {
          try {
            if (!(await allowed(owner, to))) return false;
            const id = await archive.append(owner, { with: to.bare, peer: to.full, dir: 'out', xml: stanza.toString() });
            stanza.append(x('stanza-id', { xmlns: NS_SID, by: owner, id }));
            archivedOut.inc();
            if (listeners.length > 0) {
              const work = notify({ owner, with: to.bare, peer: to.full, dir: 'out', id, stanza });
              if (work !== undefined) await work; // only then: an await costs every message a turn
            }
            return false;
          } catch (e) {
            refused.inc();
            ctx.log.warn(`archive write for ${owner} failed; message refused`, e);
            session.send(errorReply(stanza, refusal(e)));
            return true;
          }
        })();
      },
      OUTGOING_PRIORITY,
    );

    // The recipient's copy.
    const incoming = (ev: RouteEvent): Promise<boolean> | undefined => {
      const stanza = ev.stanza;
      if (archivedIn.has(stanza)) return;
      const sid = hasStanzaId(stanza);
      const keep = shouldArchive(stanza);
      if (!keep && !sid) return;
      const owner = ev.to.bare;
      if (sid && server.isLocalDomain(ev.from.domain)) {
        // From our own server (another node, offline redelivery): a stanza-id by the owner is ours, the message is archived already.
        if (stanzaIdBy(stanza, owner) !== undefined) return;
      }
      return (async () => {
        const copy = stanza.clone();
        if (sid) stripLocalStanzaIds(copy);
        ev.stanza = copy;
        if (!keep) return false;
        try {
          // Messages for an account that does not exist are bounced by the router: no archive for them.
          if (server.localSessions(owner).length === 0 && !(await server.accounts.exists(ev.to.toBare()))) return false;
          if (!(await allowed(owner, ev.from))) return false;
          const id = await archive.append(owner, { with: ev.from.bare, peer: ev.from.full, dir: 'in', xml: copy.toString() });
          copy.append(x('stanza-id', { xmlns: NS_SID, by: owner, id }));
          archivedIn.add(copy);
          archivedInCount.inc();
          if (listeners.length > 0) {
            const work = notify({ owner, with: ev.from.bare, peer: ev.from.full, dir: 'in', id, stanza: copy });
            if (work !== undefined) await work;
          }
          return false;
        } catch (e) {
          refused.inc();
          ctx.log.warn(`archive write for ${owner} failed; message from ${ev.from.full} refused`, e);
          const reply = errorReply(stanza, refusal(e));
          reply.attrs.from = ev.to.full;
          reply.attrs.to = ev.from.full;
          if (ev.origin !== null && ev.origin.open && ev.origin.jid.full === ev.from.full) ev.origin.send(reply);
          else await server.route(reply);
          return true;
        }
      })();
    };
    ctx.hook('message/bare', incoming, INCOMING_PRIORITY);
    ctx.hook('message/full', incoming, INCOMING_PRIORITY);

    // §7.1 keeps what was accepted for delivery: a message turned back after it was archived leaves the
    // recipient's archive. Requeued ones were delivered once (XEP-0198), and may well have been read.
    ctx.hook('message/refused', ({ stanza, to, requeued }) => {
      if (requeued === true) return false;
      const id = stanzaIdBy(stanza, to.bare)?.attrs.id;
      return id === undefined ? false : archive.remove(to.bare, id).then(() => false);
    });

    // §3.5: the sender's stanza-id (there for its carbons) must not leave with the message: another
    // server and a component have no access to the archive. Local recipients' copies are stripped above.
    const leaving = (ev: RouteEvent): undefined => {
      if (ev.stanza.name === 'message' && hasStanzaId(ev.stanza)) {
        const copy = ev.stanza.clone();
        stripLocalStanzaIds(copy);
        ev.stanza = copy;
      }
      return undefined;
    };
    ctx.hook('route/remote', leaving, LEAVING_PRIORITY);
    for (const event of ['message/host', 'message/bare', 'message/full'] as const) {
      ctx.hook(event, (ev) => (server.isLocalDomain(ev.to.domain) ? undefined : leaving(ev)), LEAVING_PRIORITY);
    }

    const own = (req: IqRequest): string => {
      if (!req.isSelf) throw new StanzaError('forbidden', 'an archive can only be queried by its owner');
      return req.from.bare;
    };

    // §4.1.5: the query form.
    ctx.iq(
      'get',
      NS_MAM,
      'query',
      (req) => {
        own(req);
        return queryForm();
      },
      'account',
    );

    const resultMessage = (req: IqRequest, queryId: string | undefined, m: ArchivedMessage): XmlElement => {
      const original = parseXml(m.xml);
      original.attrs.xmlns = 'jabber:client';
      return x(
        'message',
        { xmlns: 'jabber:client', id: randomHex(6), to: req.from.full, from: req.stanza.attrs.to === undefined ? undefined : req.to.bare },
        x('result', { xmlns: NS_MAM, queryid: queryId, id: m.id }, x('forwarded', { xmlns: NS_FORWARD }, delayElement(m.ts), original)),
      );
    };

    // §4: queries.
    ctx.iq(
      'set',
      NS_MAM,
      'query',
      async (req) => {
        const owner = own(req);
        const q = parseQuery(req.payload, { defaultPageSize: opts.defaultPageSize, maxPageSize: opts.maxPageSize });
        for (const id of q.referencedIds) {
          if ((await archive.get(owner, id)) === undefined) throw new StanzaError('item-not-found', `no message '${id}' in this archive`);
        }
        let items: ArchivedMessage[];
        let complete: boolean;
        if (q.ids !== undefined) {
          ({ items, complete } = await pageByIds(archive, owner, q.ids, { with: q.with, peer: q.peer, lower: q.lower, upper: q.upper, max: q.max, reverse: q.backward }, opts.maxPageSize));
        } else {
          const page = await archive.page(owner, { with: q.with, peer: q.peer, lower: q.lower, upper: q.upper, max: q.max, reverse: q.backward });
          items = q.backward ? page.items.reverse() : page.items;
          complete = page.complete;
        }
        // Results go out before the iq result (§4.2), chronologically unless the page is flipped.
        const order = q.flip ? [...items].reverse() : items;
        for (const m of order) {
          const msg = resultMessage(req, q.queryId, m);
          if (req.origin !== null && req.origin.open) req.origin.send(msg);
          else await server.route(msg);
        }
        const set = x('set', { xmlns: NS_RSM });
        if (items.length > 0) set.append(x('first', null, items[0]!.id), x('last', null, items[items.length - 1]!.id));
        const count = q.max === 0 ? await countResults(archive, owner, q, opts.countLimit, opts.maxPageSize) : undefined;
        if (count !== undefined) set.append(x('count', null, String(count)));
        // A catch-up over every conversation (not one contact's history, not given ids): this client reads what it missed here.
        if (req.origin !== null && q.with === undefined && q.ids === undefined) req.origin.set(ARCHIVE_QUERIED, true);
        return x('fin', { xmlns: NS_MAM, complete: complete ? 'true' : 'false', stable: 'true' }, set);
      },
      'account',
    );

    // §5 (#extended): archive metadata.
    ctx.iq(
      'get',
      NS_MAM,
      'metadata',
      async (req) => archiveMetadata(archive, own(req)),
      'account',
    );

    // XEP-0441 preferences.
    const prefsElement = (p: Prefs): XmlElement =>
      x(
        'prefs',
        { xmlns: NS_MAM, default: p.default },
        x('always', null, ...p.always.map((j) => x('jid', null, j))),
        x('never', null, ...p.never.map((j) => x('jid', null, j))),
      );
    ctx.iq('get', NS_MAM, 'prefs', async (req) => prefsElement((await archive.getPrefs(own(req))) ?? defaultPrefs), 'account');
    ctx.iq(
      'set',
      NS_MAM,
      'prefs',
      async (req) => {
        const owner = own(req);
        const def = req.payload.attrs.default;
        if (def !== 'always' && def !== 'never' && def !== 'roster') throw new StanzaError('bad-request', "default must be 'always', 'never' or 'roster'");
        const jids = (name: string): string[] => {
          const out = new Set<string>();
          for (const j of req.payload.getChild(name)?.getChildren('jid') ?? []) {
            const jid = tryParseJid(j.getText().trim());
            if (jid === null) throw new StanzaError('jid-malformed', `'${j.getText()}' is not a JID`);
            out.add(jid.full); // a full JID only matches that resource (XEP-0441 JID matching): kept as given
          }
          return [...out];
        };
        const prefs: Prefs = { default: def, always: jids('always'), never: jids('never') };
        // A JID in both lists: never wins (XEP-0441 §4), so it is only kept there.
        prefs.always = prefs.always.filter((j) => !prefs.never.includes(j));
        await archive.setPrefs(owner, prefs);
        return prefsElement(prefs);
      },
      'account',
    );

    ctx.hook('account/deleted', async ({ jid }) => {
      await archive.deleteAll(jid.bare);
    });
  },
});
