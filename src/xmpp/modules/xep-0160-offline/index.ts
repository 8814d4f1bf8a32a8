import type { Jid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';
import { delayElement, delayedBy } from '../../delay.js';
import { errorReply, StanzaError } from '../../errors.js';
import { defineModule } from '../../module.js';
import { CLIENT_ACKS, takesBareJidMessages, type ClientSession } from '../../session.js';
import { parseXml } from '../../stream/parse-xml.js';
import { isStorable } from './storable.js';

const DELIVERY_BATCH = 100;

/** What the offline module offers modules built on it. */
export interface OfflineApi {
  /**
   * Takes back the newest message waiting for `owner` that `matches`
   * accepts, before it is delivered; `hint` is text its XML must contain
   * (a cheap test before parsing), as serialised: an attribute value goes
   * through `escapeAttr` first. Resolves to whether one was taken.
   */
  withdraw(owner: string, hint: string, matches: (stanza: XmlElement) => boolean): Promise<boolean>;
}

/**
 * XEP-0160 offline messages. Messages the router could not deliver
 * (`message/offline`) are kept per account, in arrival order, and handed to
 * the first session that becomes available (`session/available`; should it
 * go away before the end, to the next one that did meanwhile), stamped
 * with XEP-0203 `<delay/>`, then deleted.
 *
 * Sort keys are a zero-padded millisecond time, a per-process counter and a
 * random suffix (two cluster nodes storing in the same millisecond must not
 * overwrite each other), so a partition scan is delivery order.
 *
 * A message is never dropped silently because of us: when the store fails or
 * the account is over quota, the sender gets an error reply routed from here.
 * We route it ourselves instead of throwing because the stanza may have come
 * from another cluster node or a federated server, where a throw would only
 * reach a log; the explicit reply reaches the sender on every path.
 */
export default defineModule({
  name: 'offline',
  implements: 'XEP-0160, XEP-0203 (delay), XEP-0334 (store hints)',
  options: {
    maxPerUser: { type: 'number', default: 1000, integer: true, min: 1, doc: 'Most messages kept for one account; beyond it senders get resource-constraint.' },
  },
  tables: [{ name: 'offline', readMostly: true, description: 'Offline messages: pk = recipient bare JID, sk = time-ordered id, value = the stanza XML with its delay stamp.' }],
  start(ctx) {
    const table = ctx.table('offline');
    const max = ctx.options.maxPerUser;
    /** Messages stored per account, learnt on first store; dropped on delivery (approximate across cluster nodes). */
    const counts = new Map<string, number>();
    let seq = 0;

    ctx.feature('msgoffline');

    const nextKey = (): string => {
      seq = (seq + 1) % 1_000_000;
      const rand = Math.floor(Math.random() * 0x10000).toString(16).padStart(4, '0');
      return `${String(Date.now()).padStart(15, '0')}.${String(seq).padStart(6, '0')}.${rand}`;
    };

    async function bounce(stanza: XmlElement, to: Jid, requeued: boolean | undefined, error: StanzaError): Promise<void> {
      await ctx.server.emit('message/refused', { stanza, to, requeued });
      const sender = stanza.attrs.from;
      if (sender === undefined) return;
      const reply = errorReply(stanza, error);
      reply.attrs.from = stanza.attrs.to ?? to.bare;
      reply.attrs.to = sender;
      try {
        await ctx.server.route(reply);
      } catch (e) {
        ctx.log.error(`could not return an error to ${sender}`, e);
      }
    }

    async function count(owner: string): Promise<number> {
      const known = counts.get(owner);
      if (known !== undefined) return known;
      const n = (await table.range(owner, { limit: max })).length;
      if (counts.size > 100_000) counts.clear();
      counts.set(owner, n);
      return n;
    }

    const outcomes = ctx.server.metrics.counter('sori_offline_messages_total', 'Messages for accounts with no session, by what became of them: stored, or bounced because the account\'s storage is full or the store failed.', ['outcome']);
    const storedCounter = outcomes.series('stored');
    const full = outcomes.series('full');
    const failed = outcomes.series('error');
    /**
     * Stores under way, per account. A delivery that starts meanwhile (the account's client sends its initial
     * presence while a message for it is being stored, as when a phone logs in again under the resource of its
     * hibernated session, whose unacknowledged messages are being stored) waits for them, and then delivers
     * what they stored, so none lands just after the delivery read the queue and waits there for the next login.
     */
    const storing = new Map<string, Set<Promise<void>>>();
    /** Messages stored for an account while a delivery to it runs here (only such accounts have an entry). */
    const storedDuringDelivery = new Map<string, number>();
    async function storesSettled(owner: string): Promise<void> {
      const pending = storing.get(owner);
      if (pending !== undefined) await Promise.all(pending);
    }

    ctx.hook('message/offline', async ({ stanza, to, requeued }) => {
      // Chat states and no-store messages are dropped quietly: an error would tell the sender nothing useful.
      if (!isStorable(stanza)) return true;
      const owner = to.bare;
      ctx.log.debug(`storing a message from ${stanza.attrs.from ?? '?'} for ${owner} offline${requeued === true ? ' (requeued)' : ''}`);
      let pending = storing.get(owner);
      if (pending === undefined) storing.set(owner, (pending = new Set()));
      const stored = store(stanza, to, requeued, owner);
      pending.add(stored);
      try {
        await stored;
      } finally {
        pending.delete(stored);
        if (pending.size === 0 && storing.get(owner) === pending) storing.delete(owner);
      }
      return true;
    });

    async function store(stanza: XmlElement, to: Jid, requeued: boolean | undefined, owner: string): Promise<void> {
      try {
        if ((await count(owner)) >= max) {
          full.inc();
          await bounce(stanza, to, requeued, new StanzaError('resource-constraint', 'offline storage for this account is full'));
          return;
        }
        const copy = stanza.clone();
        // One stamp from this server, the first: a message stored again after an unacknowledged delivery keeps its time.
        if (!delayedBy(copy, to.domain)) {
          copy.append(delayElement(Date.now(), to.domain, 'Offline storage'));
        }
        await table.put(owner, nextKey(), copy.toString());
        counts.set(owner, (counts.get(owner) ?? 0) + 1);
        const during = storedDuringDelivery.get(owner);
        if (during !== undefined) storedDuringDelivery.set(owner, during + 1);
        storedCounter.inc();
      } catch (e) {
        failed.inc();
        ctx.log.error(`storing an offline message for ${owner} failed`, e);
        counts.delete(owner);
        await bounce(stanza, to, requeued, new StanzaError('internal-server-error', 'could not store the message'));
      }
    }

    /**
     * Deletes delivered rows; with stream management, only once the client has acknowledged them (or the
     * session ended and stream management stored what was not acknowledged anew), so that a crash in between
     * loses nothing. Not waited for: the acknowledgements come through the stream this delivery runs in.
     */
    function forgetOnceHandled(session: ClientSession, owner: string, sks: readonly string[]): void {
      if (sks.length === 0) return;
      const acks = session.get(CLIENT_ACKS);
      const forget = async (): Promise<void> => {
        if (acks !== undefined) await acks.untilHandled();
        // Stopped meanwhile (a client that never acknowledged): the rows stay, and are delivered again next time.
        if (stopped) return;
        await Promise.all(sks.map((sk) => table.delete(owner, sk)));
      };
      void forget().catch((e: unknown) => ctx.log.warn(`deleting delivered offline messages of ${owner} failed`, e));
    }
    let stopped = false;
    ctx.onStop(() => {
      stopped = true;
    });

    /**
     * Delivers `owner`'s rows after `after` to `session`, a batch at a time. Resolves with whether the queue
     * was read to its end (or the session went away first), and the sort key of the last row handed over.
     */
    async function deliver(session: ClientSession, owner: string, after: string | undefined): Promise<{ complete: boolean; last: string | undefined }> {
      for (;;) {
        const rows = await table.range(owner, { start: after, startExclusive: after !== undefined, limit: DELIVERY_BATCH });
        if (rows.length === 0) return { complete: true, last: after };
        if (!session.open) return { complete: false, last: after };
        // Rows are deleted only once written, a batch at a time and in parallel: a crash in
        // between delivers them twice rather than never, and a remote store is not asked
        // for one round trip per message (1,000 queued messages took ~30 s on DynamoDB Local).
        const done: string[] = [];
        try {
          for (const row of rows) {
            let stanza: XmlElement;
            try {
              stanza = parseXml(row.value);
            } catch (e) {
              ctx.log.error(`unreadable offline message for ${owner} dropped`, e);
              done.push(row.sk);
              continue;
            }
            if (!session.open) return { complete: false, last: done[done.length - 1] ?? after };
            session.send(stanza);
            done.push(row.sk);
          }
        } finally {
          forgetOnceHandled(session, owner, done);
        }
        after = done[done.length - 1] ?? after;
        if (rows.length < DELIVERY_BATCH) return { complete: true, last: after };
      }
    }

    /**
     * Per account being delivered to: the sessions that became available meanwhile, in order. Two resources
     * coming online together must not both get (and delete) the same messages, so the later ones wait here;
     * should the one being delivered to go away before the end (a phone losing its connection at login),
     * the next one still available takes over where it stopped, instead of the rest waiting for a login to come.
     */
    const waiting = new Map<string, ClientSession[]>();
    const stillAvailable = (s: ClientSession): boolean => s.open && takesBareJidMessages(s);

    ctx.hook('session/available', async ({ session }) => {
      const owner = session.jid.bare;
      const queue = waiting.get(owner);
      if (queue !== undefined) {
        queue.push(session);
        return;
      }
      const next: ClientSession[] = [];
      waiting.set(owner, next);
      storedDuringDelivery.set(owner, 0);
      try {
        let to: ClientSession | undefined = session;
        let after: string | undefined;
        while (to !== undefined) {
          await storesSettled(owner);
          const storedBefore = storedDuringDelivery.get(owner)!;
          const end = await deliver(to, owner, after);
          // Resume after what was handed over: rows before it are that session's to settle (acknowledged, or
          // stored anew by stream management), so no message goes out twice.
          after = end.last;
          if (end.complete) {
            // Stored while it read: delivered too, now rather than at the next login.
            await storesSettled(owner);
            if (storedDuringDelivery.get(owner) === storedBefore) break;
            continue;
          }
          to = next.shift();
          while (to !== undefined && !stillAvailable(to)) to = next.shift();
        }
      } finally {
        counts.delete(owner);
        waiting.delete(owner);
        storedDuringDelivery.delete(owner);
      }
    });

    ctx.provide<OfflineApi>({
      async withdraw(owner, hint, matches) {
        for (const row of await table.range(owner, { limit: max, reverse: true })) {
          if (!row.value.includes(hint)) continue;
          let stanza: XmlElement;
          try {
            stanza = parseXml(row.value);
          } catch {
            continue; // delivery drops it, and says so
          }
          if (!matches(stanza)) continue;
          await table.delete(owner, row.sk);
          const known = counts.get(owner);
          if (known !== undefined && known > 0) counts.set(owner, known - 1);
          return true;
        }
        return false;
      },
    });

    ctx.hook('account/deleted', async ({ jid }) => {
      counts.delete(jid.bare);
      await table.deletePartition(jid.bare);
    });
  },
});
