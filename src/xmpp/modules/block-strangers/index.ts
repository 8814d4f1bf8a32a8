import { normaliseDomain, type Jid } from '../../../util/jid.js';
import { ConfigError } from '../../../util/options.js';
import type { XmlElement } from '../../../util/xml.js';
import { errorReply, StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import { defineModule } from '../../module.js';
import { DIRECTED_PRESENCE, type ClientSession } from '../../session.js';
import type { RosterApi, RosterItem } from '../rfc6121-roster/index.js';
import { ENCRYPTED_PAYLOADS } from '../../encrypted-payloads.js';

/**
 * Below xep-0191-blocking (100): a JID the user blocked gets that module's answer, the user's own
 * choice. Above MAM's archiving (50), offline storage and push: a refused message is never archived,
 * kept, or pushed.
 */
const PRIORITY = 90;

/** RFC 6120 §8.3.3.12 names policy-violation for a local policy; the text says which, so a human stranger knows why. */
const REFUSAL_TEXT = 'Messages and subscription requests from strangers are refused: ask the user to add you as a contact';

const options = {
  allowLocalUsers: { type: 'boolean', default: true, doc: 'Let accounts of this server write to each other without being contacts: only senders at other servers are judged.' },
  allowDomains: { type: 'string[]', default: [], doc: 'Domains (and their subdomains) always let through, e.g. a bridge or a partner server.' },
  drop: { type: 'boolean', default: true, doc: 'Drop refused stanzas silently (as a spam bot learns nothing); false: answer each with a policy-violation error, so that a person writing first learns why nothing arrived.' },
  blockSubscriptions: {
    type: 'boolean',
    default: false,
    doc: 'Also refuse presence subscription requests from strangers. A stranger can then only become a contact once the user asks for their presence or pre-approves them: off by default, as ejabberd and Prosody let requests through.',
  },
} as const;

/**
 * The roster item makes the sender a contact: a subscription either way (RFC 6121 §3: the user gave it,
 * or got it by asking), a request the user sent and is waiting on, or the user's pre-approval (§3.4).
 * ejabberd's mod_block_strangers asks the same of the roster; an item with none of these (a contact who
 * ended both subscriptions) is a stranger again.
 */
function knows(item: RosterItem | undefined): boolean {
  return item !== undefined && (item.subscription !== 'none' || item.ask !== undefined || item.approved === true);
}

/**
 * Payloads a client shows or rings for without any body: end-to-end encrypted messages (anyone may fetch a
 * user's OMEMO bundle and encrypt to it), a call proposal (XEP-0353) and a direct room invitation (XEP-0249,
 * which Gajim sends without a body).
 */
const SHOWN_PAYLOADS: ReadonlyMap<string, string> = new Map([
  ...ENCRYPTED_PAYLOADS,
  ['urn:xmpp:jingle-message:0', 'propose'],
  ['jabber:x:conference', 'x'],
]);

/** Whether a person would see the message: a body, a subject or a SHOWN_PAYLOAD. Chat states, receipts and markers alone are not seen. */
function seenByPerson(stanza: XmlElement): boolean {
  for (const c of stanza.children) {
    if (typeof c === 'string') continue;
    if (c.name === 'body' || c.name === 'subject') return true;
    const ns = c.attrs.xmlns;
    if (ns !== undefined && SHOWN_PAYLOADS.get(ns) === c.name) return true;
  }
  return false;
}

/** Node request: has one of this node's sessions of an account (body: JSON [account, sender's bare JID]) sent the sender directed presence? '1' or '0'. */
const DIRECTED_TOPIC = 'block-strangers/directed';
/** How long a stranger's message waits for another node's answer; one that does not answer lets it through. */
const DIRECTED_TIMEOUT_MS = 2000;

/**
 * Whether the session has sent `senderBare` directed presence (RFC 6121 §4.6): to a MUC room the user is
 * in (whose occupants all share the room's bare JID), or to anyone the user chose to show presence to.
 */
function presenceSentTo(session: ClientSession, senderBare: string): boolean {
  const targets = session.get(DIRECTED_PRESENCE);
  if (targets === undefined) return false;
  for (const t of targets) {
    if (t === senderBare || (t.startsWith(senderBare) && t.charCodeAt(senderBare.length) === 0x2f)) return true;
  }
  return false;
}

/**
 * Server policy against unsolicited messages from strangers (ejabberd's and Prosody's
 * mod_block_strangers): a message a person would see (a body, a subject, an encrypted payload, a call
 * or an invitation) to an account, from a JID that account has no presence subscription with, is refused
 * before it is delivered, archived, kept offline or pushed.
 * Always let through: the account itself, this server and its services (MUC, pubsub, upload,
 * components), error messages, and whoever the user sent directed presence to, as ejabberd does (a room
 * the user is in: its groupchat, and its occupants' private messages). Off by default;
 * `modules.enabled: ["block-strangers"]` turns it on.
 */
export default defineModule({
  name: 'block-strangers',
  implements: 'server policy: refuse messages from non-contacts (ejabberd mod_block_strangers)',
  defaultEnabled: false,
  depends: ['roster'],
  options,
  start(ctx) {
    const { allowLocalUsers, drop, blockSubscriptions } = ctx.options;
    const server = ctx.server;
    const roster = ctx.use<RosterApi>('roster');
    const allowDomains = new Set(
      ctx.options.allowDomains.map((d) => {
        if (d === '' || d === '.' || d.includes('@') || d.includes('/')) throw new ConfigError(`modules.options.block-strangers.allowDomains: '${d}' is not a domain`);
        return normaliseDomain(d);
      }),
    );
    const refusals = server.metrics.counter('sori_block_strangers_refused_total', 'Stanzas refused as coming from strangers (block-strangers), by kind: message, or subscription request.', ['kind']);
    const refusedMessages = refusals.series('message');
    const refusedSubscriptions = refusals.series('subscribe');

    /** `domain` or a parent of it is in `domains`. */
    function under(domain: string, domains: ReadonlySet<string>): boolean {
      for (let d = domain; ; ) {
        if (domains.has(d)) return true;
        const dot = d.indexOf('.');
        if (dot === -1) return false;
        d = d.slice(dot + 1);
      }
    }

    /** Whether a stanza from `from` to `to` is judged at all; only the roster and presence can pass it then. */
    function judged(from: Jid, to: Jid): boolean {
      if (from.bare === to.bare || to.local === '' || !server.isLocalDomain(to.domain)) return false;
      if (server.isLocalDomain(from.domain)) return from.local !== ''; // the server itself always passes
      // This server's services (MUC, pubsub, components) as the server knows them, not every subdomain of a
      // served domain: another server may run at one, and a component may be named outside them.
      return !server.servesDomain(from.domain) && (allowDomains.size === 0 || !under(from.domain, allowDomains));
    }

    /** Another node's sessions of `account` sent `senderBare` directed presence; a node that does not answer counts as yes. */
    async function presenceSentElsewhere(node: string, account: string, senderBare: string): Promise<boolean> {
      const answer = await server.nodeRequest(node, DIRECTED_TOPIC, JSON.stringify([account, senderBare]), DIRECTED_TIMEOUT_MS);
      if (answer === null) ctx.log.debug(`node ${node} did not say whether ${account} sent presence to ${senderBare}: let through`);
      return answer !== '0';
    }

    ctx.onStop(
      server.onNodeRequest(DIRECTED_TOPIC, (body) => {
        const [account, senderBare] = JSON.parse(body) as [string, string];
        return server.localSessions(account).some((s) => presenceSentTo(s, senderBare)) ? '1' : '0';
      }),
    );

    /** True when `from` is a stranger to `to`'s account: no roster item that makes it a contact, and no directed presence to it. */
    async function stranger(from: Jid, to: Jid): Promise<boolean> {
      if (knows(await roster.store.get(to.bare, from.bare))) return false;
      const nodes = new Set<string>();
      for (const r of await server.resources(to.bare)) {
        if (r.session !== null) {
          if (presenceSentTo(r.session, from.bare)) return false;
        } else if (r.node !== null) nodes.add(r.node);
      }
      for (const node of nodes) if (await presenceSentElsewhere(node, to.bare, from.bare)) return false;
      return true;
    }

    async function refuse(stanza: XmlElement, from: Jid, to: Jid, kind: 'message' | 'subscribe'): Promise<void> {
      (kind === 'message' ? refusedMessages : refusedSubscriptions).inc();
      ctx.log.debug(`${drop ? 'dropped' : 'refused'} ${kind === 'message' ? `${stanza.attrs.type ?? 'normal'} message` : 'subscription request'} from stranger ${from.full} to ${to.full}`);
      if (drop) return;
      const reply = errorReply(stanza, new StanzaError('policy-violation', REFUSAL_TEXT, 'modify'));
      reply.attrs.from = to.full;
      reply.attrs.to = from.full;
      await server.route(reply);
    }

    async function refuseStranger(stanza: XmlElement, from: Jid, to: Jid, kind: 'message' | 'subscribe'): Promise<boolean> {
      if (!(await stranger(from, to))) return false;
      await refuse(stanza, from, to, kind);
      return true;
    }

    function judgeMessage({ stanza, from, to }: RouteEvent): boolean | Promise<boolean> {
      // The usual message, between two accounts here, costs this one lookup.
      if (allowLocalUsers && server.isLocalDomain(from.domain)) return false;
      const type = stanza.attrs.type;
      if (type === 'error') return false;
      // Chat states, receipts, markers: nothing a person reads, let through as ejabberd does. A bodiless
      // encrypted message or call is read or rings, and is judged (ejabberd looks at body and subject only).
      if (!seenByPerson(stanza)) return false;
      if (!judged(from, to)) return false;
      // Groupchat is judged too, or any stranger could spam by picking that type (it reaches a full JID, and
      // push). A room the user is in passes by its directed presence: asked of the addressed session first,
      // in memory, so that the traffic of joined rooms costs no roster read.
      if (type === 'groupchat') {
        const session = server.localSession(to.full);
        if (session !== undefined && presenceSentTo(session, from.bare)) return false;
      }
      return refuseStranger(stanza, from, to, 'message');
    }

    // Headline too: a spam bot picks the type, and clients show a headline's body as they do a chat's.
    ctx.hook('message/bare', judgeMessage, PRIORITY);
    ctx.hook('message/full', judgeMessage, PRIORITY);

    if (blockSubscriptions) {
      const judgeSubscription = ({ stanza, from, to }: RouteEvent): boolean | Promise<boolean> => {
        if (stanza.attrs.type !== 'subscribe') return false;
        if (allowLocalUsers && server.isLocalDomain(from.domain)) return false;
        if (!judged(from, to)) return false;
        return refuseStranger(stanza, from, to.toBare(), 'subscribe');
      };
      ctx.hook('presence/bare', judgeSubscription, PRIORITY);
      ctx.hook('presence/full', judgeSubscription, PRIORITY);
    }
  },
});
