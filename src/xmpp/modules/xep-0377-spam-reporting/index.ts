import { tryParseJid, type Jid } from '../../../util/jid.js';
import { randomHex } from '../../../util/random-token.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { defineModule } from '../../module.js';
import { NS_SID } from '../../stanza-id.js';
import type { MamApi } from '../xep-0313-mam/index.js';

export const NS_REPORTING = 'urn:xmpp:reporting:1';
/** XEP-0377 before 0.3: the reason is a child element (`<spam/>`, `<abuse/>`); clients released then still send it. */
export const NS_REPORTING_0 = 'urn:xmpp:reporting:0';
const REASONS: Readonly<Record<string, string>> = { 'urn:xmpp:reporting:spam': 'spam', 'urn:xmpp:reporting:abuse': 'abuse' };
const TABLE = 'abuse_reports';

/** One report as kept for the operator. */
export interface AbuseReport {
  reporter: string;
  reported: string;
  /** `spam`, `abuse`, or the reason URI the client sent. */
  reason: string;
  text: string;
  ms: number;
  /** The reported messages, from the reporter's archive: only those it received from the reported JID. */
  messages: { id: string; ts: number; xml: string }[];
  /** Stanza ids named in the report that the archive did not hold as coming from the reported JID. */
  unmatchedIds: string[];
  /** XEP-0377 processing opt-ins the reporter gave (report-origin, third-party); sori itself forwards nothing. */
  optIns: string[];
}

/**
 * XEP-0377 spam reporting: a report attached to a block (XEP-0191) is kept
 * for the operator in `abuse_reports` (partition: the reported JID, newest
 * last), with the messages it names copied from the reporter's archive, as
 * long as they came from the reported JID. The block itself is the blocking
 * module's. Each report is counted (`sori_abuse_reports_total`) and can be
 * sent to moderators' JIDs (`notify`).
 */
export default defineModule({
  name: 'spam-reporting',
  implements: 'XEP-0377',
  depends: ['blocking', 'mam'],
  options: {
    notify: { type: 'string[]', default: [], doc: 'JIDs (moderators) sent a message for every report: who reported whom, why, and the reported messages.' },
    retentionDays: { type: 'number', default: 365, min: 0, doc: 'Days a report is kept; 0 keeps them.' },
    maxMessages: { type: 'number', default: 20, integer: true, min: 0, doc: 'Most reported messages copied into one report.' },
    maxTextLength: { type: 'number', default: 2000, integer: true, min: 0, doc: 'Longest reporter text kept, in characters.' },
  },
  tables: [{ name: TABLE, ttl: true, description: 'XEP-0377: pk = reported bare JID, sk = time + reporter, value = JSON report (reason, text, the reported messages).' }],
  start(ctx) {
    const opts = ctx.options;
    const table = ctx.table(TABLE);
    const mam = ctx.use<MamApi>('mam');
    const notify = opts.notify.map((j) => {
      const jid = tryParseJid(j);
      if (jid === null) throw new Error(`modules.options.spam-reporting.notify: '${j}' is not a JID`);
      return jid;
    });
    const counted = ctx.server.metrics.counter('sori_abuse_reports_total', 'Abuse reports attached to blocks (XEP-0377), by reason: spam, abuse, or other.', ['reason']);

    for (const feature of [NS_REPORTING, NS_REPORTING_0, 'urn:xmpp:reporting:reason:spam:0', 'urn:xmpp:reporting:reason:abuse:0']) ctx.feature(feature, 'both');

    async function reportedMessages(reporter: string, reported: Jid, ids: string[]): Promise<Pick<AbuseReport, 'messages' | 'unmatchedIds'>> {
      const messages: AbuseReport['messages'] = [];
      const unmatchedIds: string[] = [];
      for (const id of ids.slice(0, opts.maxMessages)) {
        const m = await mam.archive.get(reporter, id);
        // §5: the messages should be the reported JID's; another's stays out of the report. A full JID is a
        // room occupant (or one client): the room's other occupants write from the same bare JID.
        const fromReported = m !== undefined && m.dir === 'in' && m.with === reported.bare && (reported.resource === '' || m.peer === reported.full);
        if (fromReported) messages.push({ id, ts: m.ts, xml: m.xml });
        else unmatchedIds.push(id);
      }
      return { messages, unmatchedIds };
    }

    async function record(owner: Jid, item: XmlElement, report: XmlElement): Promise<void> {
      const reported = tryParseJid(item.attrs.jid);
      if (reported === null) return;
      const legacyReason = report.attrs.xmlns === NS_REPORTING_0 ? report.elements().find((e) => e.name === 'spam' || e.name === 'abuse')?.name : undefined;
      const reasonUri = legacyReason !== undefined ? `urn:xmpp:reporting:${legacyReason}` : (report.attrs.reason ?? '');
      const reason = REASONS[reasonUri] ?? (reasonUri === '' ? 'unspecified' : reasonUri);
      const ids = report.getChildren('stanza-id', NS_SID).map((s) => s.attrs.id).filter((id): id is string => id !== undefined);
      const text = report.getChildren('text').map((t) => t.getText().trim()).filter((t) => t !== '').join('\n').slice(0, opts.maxTextLength);
      const optIns = ['report-origin', 'third-party'].filter((name) => report.getChild(name) !== undefined);
      const ms = Date.now();
      const entry: AbuseReport = { reporter: owner.bare, reported: reported.bare, reason, text, ms, optIns, ...(await reportedMessages(owner.bare, reported, ids)) };
      const ttlSeconds = opts.retentionDays > 0 ? opts.retentionDays * 86_400 : undefined;
      await table.putJson(reported.bare, `${String(ms).padStart(15, '0')}:${owner.bare}:${randomHex(3)}`, entry, { ttlSeconds });
      counted.inc(REASONS[reasonUri] ?? 'other');
      ctx.log.info(`abuse report: ${owner.bare} reported ${reported.bare} (${reason}, ${entry.messages.length} messages)`);
      for (const moderator of notify) await ctx.server.route(notice(entry, owner.domain, moderator));
    }

    /** The message a moderator gets, from the reporter's domain. */
    function notice(r: AbuseReport, domain: string, moderator: Jid): XmlElement {
      const lines = [`${r.reporter} reported ${r.reported} for ${r.reason}.`];
      if (r.text !== '') lines.push(`Their words: ${r.text}`);
      for (const m of r.messages) lines.push(`${new Date(m.ts).toISOString()}: ${m.xml}`);
      if (r.unmatchedIds.length > 0) lines.push(`Not found in the reporter's archive as from ${r.reported}: ${r.unmatchedIds.join(', ')}`);
      return x('message', { type: 'normal', from: domain, to: moderator.full, id: `report-${randomHex(6)}` }, x('subject', null, 'Abuse report'), x('body', null, lines.join('\n')));
    }

    ctx.hook('blocking/blocked', async ({ owner, items }) => {
      for (const item of items) {
        const report = item.getChild('report', NS_REPORTING) ?? item.getChild('report', NS_REPORTING_0);
        if (report !== undefined) await record(owner, item, report);
      }
    });
  },
});
