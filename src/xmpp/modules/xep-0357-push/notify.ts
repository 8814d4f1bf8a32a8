import { tryParseJid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { buildForm, formTypeField } from '../../../util/data-form.js';
import type { Logger } from '../../../util/log.js';
import type { PushDispatcher, PushNotification } from '../../../push/index.js';
import { NS_DELAY, delayedBy } from '../../delay.js';
import type { ServerApi } from '../../module.js';
import { stanzaIdBy } from '../../stanza-id.js';
import { parseXml } from '../../stream/parse-xml.js';
import { pushWorthy, type PushWorthy } from './important.js';
import { registrationKey, type Registration, type RegistrationStore } from './registrations.js';
import { randomHex } from '../../../util/random-token.js';
import { createHash } from 'node:crypto';

export const NS_PUSH = 'urn:xmpp:push:0';
export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
export const NS_SUMMARY = 'urn:xmpp:push:summary';

/** Publish errors of type wait (and timeouts) in a row after which a registration is dropped; other errors drop it at once. */
const WAIT_ERRORS_TO_DISABLE = 16;

/** Which registration a built-in app server notification was for, to remove it when its token is dead. */
export type NotificationOrigins = WeakMap<PushNotification, { owner: string; registration: Registration }>;

export interface NotifierDeps {
  /** The module's options that shape a push. */
  options: { includeCount: boolean; includeSender: boolean; includeBody: boolean; publishTimeoutMs: number; dedupEntries: number };
  server: Pick<ServerApi, 'sendIq'>;
  store: RegistrationStore;
  log: Logger;
  /** The built-in app server's dispatcher, or null when no apps are configured. */
  dispatcher: PushDispatcher | null;
  origins: NotificationOrigins;
  /** Keeps a push running beside delivery until it settles (the module's `idle`). */
  track: (p: Promise<unknown>) => void;
}

/** What the module's hooks use to push. */
export interface Notifier {
  notify(owner: string, outer: XmlElement, choose: (regs: Registration[]) => Registration[] | Promise<Registration[]>, worthy?: PushWorthy | null): Promise<void>;
  /** Notes a message without an id as an original, unless it is a copy this server delivers again (`domain`: the recipient's). */
  markUnnamed(message: XmlElement, domain: string): void;
  /** Notes that `copy` is `original` again (stream management's requeued clone): one push for both. */
  markCopy(copy: XmlElement, original: XmlElement, domain: string): void;
  /** Forgets the `message-count` of an account that has an available session again, or is deleted. */
  forgetCount(owner: string): void;
}

/**
 * How a message the module's hooks chose becomes pushes: each registration gets it once (dedup by message id,
 * else stanza-id, else the message object or the one it copies, else content: see `unnamedKey`; bounded memory),
 * counted per account since it was last online, and sent either as a XEP-0357 publish to a third-party app server
 * (§7, with its error rules) or to the built-in app server's dispatcher.
 */
export function createNotifier(deps: NotifierDeps): Notifier {
  const { options: opts, server, store, log, dispatcher, origins, track } = deps;
  const pushed = new Map<string, true>();
  /** True the first time a (registration, message) pair is seen. */
  function firstTime(key: string): boolean {
    if (pushed.has(key)) return false;
    pushed.set(key, true);
    if (pushed.size > opts.dedupEntries) pushed.delete(pushed.keys().next().value as string);
    return true;
  }
  const counts = new Map<string, number>();

  /**
   * Messages with neither id nor stanza-id (no MAM), marked when routed to a sleeping session or written to one
   * that may not acknowledge: '' until pushed, then their key. A later path that holds the same object (an
   * unacknowledged write, CSI's requeue) finds the key here, and so does a copy linked to it (`markCopy`).
   * Messages to connected sessions without stream management are never marked: the chat path pays nothing.
   * An entry lives as long as the stanza does.
   */
  const unnamed = new WeakMap<XmlElement, string>();
  /** The key last pushed for an unnamed message's content: what copies with no link to their original find. */
  const byContent = new Map<string, string>();
  function markUnnamed(message: XmlElement, domain: string): void {
    if (unnamedId(message) && !unnamed.has(message) && !redelivered(message, domain)) unnamed.set(message, '');
  }
  /**
   * Stream management's requeue names the object it cloned, so its copy takes that message's key: a copy of
   * one of two messages with the same text is never taken for the other. An original not yet pushed gets its
   * key now. One that is itself a copy read back from offline storage (never marked) leaves the link to content.
   */
  function markCopy(copy: XmlElement, original: XmlElement, domain: string): void {
    if (copy === original || !unnamedId(original)) return;
    let key = unnamed.get(original);
    if (key === undefined && redelivered(original, domain)) return;
    if (key === undefined || key === '') unnamed.set(original, (key = `rnd|${randomHex(8)}`));
    unnamed.set(copy, key);
  }
  function contentKey(owner: string, message: XmlElement): string {
    // Without <delay/>: stream management's requeue adds one to its copy.
    const h = createHash('sha256');
    for (const c of message.children) {
      if (typeof c === 'string') h.update(c);
      else if (c.name !== 'delay' || c.attrs.xmlns !== NS_DELAY) h.update(c.toString());
    }
    return `${owner}|${message.attrs.from ?? ''}|${h.digest('base64')}`;
  }
  /**
   * The key of a message with no id or stanza-id. One marked when routed is an original: its own key; so is a copy
   * stream management requeued, linked to its original by `markCopy`. An unmarked one is a copy with no link (read
   * back from offline storage, or a requeued clone of such a one) of a message seen before, whose key its content
   * finds; a copy of nothing pushed gets a key of its own. Such a copy is of a message pushed when it was stored
   * (storing pushes every registration), so being taken for another message of the same text skips nothing it was
   * owed, but to a device registered since; the copy that can be of a message never pushed, stream management's of
   * one written to a connected session, is linked, so it is never taken for an earlier one. `byContent` is bounded
   * like `pushed` (dedupEntries): a link outliving its `pushed` entries would find nothing to skip, and one evicted
   * early costs a repeated push, never a missed one.
   */
  function unnamedKey(owner: string, message: XmlElement): string {
    const content = contentKey(owner, message);
    const mark = unnamed.get(message);
    let key = mark !== undefined && mark !== '' ? mark : mark === undefined ? byContent.get(content) : undefined;
    if (key === undefined) key = `rnd|${randomHex(8)}`;
    unnamed.set(message, key);
    byContent.delete(content);
    byContent.set(content, key);
    if (byContent.size > opts.dedupEntries) byContent.delete(byContent.keys().next().value as string);
    return key;
  }

  // ---- sending ----

  /** Publish errors per registration since its last success (owner|jid|node). */
  const failuresInARow = new Map<string, number>();

  function messageKey(owner: string, message: XmlElement, outer: XmlElement): string {
    const id = message.attrs.id;
    if (id !== undefined && id !== '') return `${message.attrs.from ?? ''}|${id}`;
    const sid = stanzaIdBy(outer, owner)?.attrs.id;
    return sid !== undefined ? `sid|${sid}` : unnamedKey(owner, message);
  }

  function summary(count: number, sender: string | undefined, body: string | undefined): XmlElement {
    const fields = [formTypeField(NS_SUMMARY)];
    if (opts.includeCount) fields.push({ var: 'message-count', values: [String(count)] });
    if (opts.includeSender && sender !== undefined) fields.push({ var: 'last-message-sender', values: [sender] });
    if (opts.includeBody && body !== undefined) fields.push({ var: 'last-message-body', values: [body] });
    return buildForm({ type: 'submit', fields });
  }

  async function publish(owner: string, reg: Registration, count: number, sender: string | undefined, body: string | undefined): Promise<void> {
    const pubsub = x(
      'pubsub',
      { xmlns: NS_PUBSUB },
      x('publish', { node: reg.node }, x('item', null, x('notification', { xmlns: NS_PUSH }, summary(count, sender, body)))),
    );
    if (reg.publishOptions !== null) pubsub.append(x('publish-options', null, parseXml(reg.publishOptions)));
    const reply = await server.sendIq(x('iq', { type: 'set', from: owner, to: reg.jid }, pubsub), opts.publishTimeoutMs);
    const key = `${owner}|${registrationKey(reg.jid, reg.node)}`;
    if (reply !== null && reply.attrs.type !== 'error') {
      failuresInARow.delete(key);
      return;
    }
    // "Publish Errors": an error disables the registration; one that says to wait (or a timeout) only after WAIT_ERRORS_TO_DISABLE in a row.
    const type = reply === null ? 'wait' : reply.getChild('error')?.attrs.type;
    const inARow = (failuresInARow.get(key) ?? 0) + 1;
    if (type === 'wait' && inARow < WAIT_ERRORS_TO_DISABLE) {
      failuresInARow.set(key, inARow);
      return;
    }
    failuresInARow.delete(key);
    if (await store.removeIfUnchanged(owner, reg)) log.info(`app server ${reg.jid} ${reply === null ? 'did not answer' : 'refused'} a push for ${owner} (${type ?? 'no type'}, ${inARow} in a row): registration removed`);
  }

  /** Pushes one message (`worthy`: what of it counts, when already judged) to the chosen registrations of `owner`, once per registration. */
  async function notify(
    owner: string,
    outer: XmlElement,
    choose: (regs: Registration[]) => Registration[] | Promise<Registration[]>,
    worthy: PushWorthy | null = pushWorthy(outer),
  ): Promise<void> {
    if (worthy === null) return;
    const regs = await choose(await store.list(owner));
    if (regs.length === 0) return;
    const msgKey = messageKey(owner, worthy.message, outer);
    const fresh = regs.filter((r) => firstTime(`${owner}|${registrationKey(r.jid, r.node)}|${msgKey}`));
    if (fresh.length === 0) return;
    const count = (counts.get(owner) ?? 0) + 1;
    counts.set(owner, count);
    // In a room the speaker is the occupant (room@service/nick), as Prosody sends it; elsewhere the bare JID.
    const from = tryParseJid(worthy.message.attrs.from);
    const sender = worthy.message.attrs.type === 'groupchat' ? from?.full : from?.bare;
    for (const reg of fresh) {
      if (reg.device !== undefined) {
        const n: PushNotification = { token: reg.device.token, messageId: msgKey.slice(msgKey.indexOf('|') + 1), count, sender, body: worthy.body };
        origins.set(n, { owner, registration: reg });
        if (dispatcher === null || !dispatcher.dispatch(reg.device.app, n)) log.warn(`push for ${owner} to app ${reg.device.app} not accepted`);
      } else track(publish(owner, reg, count, sender, worthy.body));
    }
  }

  return { notify, markUnnamed, markCopy, forgetCount: (owner) => void counts.delete(owner) };
}

function unnamedId(message: XmlElement): boolean {
  const id = message.attrs.id;
  return id === undefined || id === '';
}

/** A copy this server delivers again: stamped with a `<delay/>` from the recipient's domain (offline storage, stream management's requeue). */
function redelivered(message: XmlElement, domain: string): boolean {
  return delayedBy(message, domain);
}
