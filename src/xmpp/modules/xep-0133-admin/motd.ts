import { randomHex } from '../../../util/random-token.js';
import type { TableSpec } from '../../../storage/wide-column.js';
import type { ModuleContext } from '../../module.js';
import type { ClientSession } from '../../session.js';
import { eachLocalSession, noticeStanza, postToOtherNodes } from './broadcast.js';
import { adminForm, done, formThenProcess, multiLine, type AddAdminCommand } from './forms.js';

export const MOTD_TABLES: TableSpec[] = [
  { name: 'admin_motd', description: 'XEP-0133 message of the day: pk = domain, sk = "motd", value = JSON {id, text}; the id changes when it is set anew, not when it is edited.' },
  { name: 'admin_motd_seen', description: 'XEP-0133: pk = account bare JID, sk = "motd", value = the id of the last message of the day the account was sent, so that it gets each one once.' },
];
const SK = 'motd';
/** A node telling the others that a domain's message of the day changed (body: `MotdPost` as JSON). */
const MOTD_TOPIC = 'admin/motd';
/** How often each node rereads the messages of the day, in case a post about a change never reached it. */
const REFRESH_MS = 60_000;

/** Time first, so that ids tell which message came later when someone reads the store. */
const newId = (): string => `${Date.now().toString(36)}-${randomHex(4)}`;

interface Motd {
  id: string;
  text: string;
}

interface MotdPost {
  node: string;
  domain: string;
  motd: Motd | null;
  /** Set anew (not edited): sent to the users online now. */
  send: boolean;
}

/**
 * XEP-0133 §4.24–§4.26: a message of the day per domain, sent to the users
 * online when it is set and, once, to each other account when one of its
 * sessions next sends initial presence (as ejabberd's mod_announce does; an
 * edit corrects the text without sending it again).
 *
 * The login path: each node keeps the current message of every domain in
 * memory (read at start, updated by the posts of the node that changes it,
 * reread every minute), so while none is set a login costs nothing. While one
 * is, initial presence costs one point read of the account's row saying which
 * message it last got, and a write the one time it gets this one. Nothing read
 * at login already says when the account last logged in, which would have
 * spared the read; the row is one small key per account, overwritten by the
 * next message, deleted with the account.
 */
export async function startMotd(ctx: ModuleContext, add: AddAdminCommand): Promise<void> {
  const server = ctx.server;
  const motds = ctx.table('admin_motd');
  const seen = ctx.table('admin_motd_seen');
  const current = new Map<string, Motd>();

  const stanza = (domain: string, to: string, motd: Motd) => noticeStanza(domain, to, `motd-${motd.id}`, { body: motd.text });

  async function reload(): Promise<void> {
    for (const domain of server.hosts) {
      const value = await motds.get(domain, SK);
      if (value === undefined) current.delete(domain);
      else current.set(domain, JSON.parse(value) as Motd);
    }
  }

  /** Sends `motd` to the sessions of `domain` on this node, and records it as got by their accounts; resolves with how many sessions. */
  async function sendHere(domain: string, motd: Motd): Promise<number> {
    const writes = new Map<string, Promise<void>>();
    const sent = await eachLocalSession(server, domain, (s) => {
      s.send(stanza(domain, s.jid.full, motd));
      if (!writes.has(s.jid.bare)) writes.set(s.jid.bare, seen.putBatched(s.jid.bare, SK, motd.id));
    });
    await Promise.all(writes.values());
    return sent;
  }

  function applyHere(post: Omit<MotdPost, 'node'>): Promise<number> {
    if (post.motd === null) current.delete(post.domain);
    else current.set(post.domain, post.motd);
    return post.send && post.motd !== null ? sendHere(post.domain, post.motd) : Promise.resolve(0);
  }

  /** Stores the change, applies it here and tells the other nodes; resolves with the sessions it was sent to here. */
  async function change(domain: string, motd: Motd | null, send: boolean): Promise<number> {
    if (motd === null) await motds.delete(domain, SK);
    else await motds.put(domain, SK, JSON.stringify(motd));
    await postToOtherNodes(server, MOTD_TOPIC, (node) => JSON.stringify({ node, domain, motd, send } satisfies MotdPost));
    return applyHere({ domain, motd, send });
  }

  /** Sends `motd` to the session unless its account got it already; conditional, so two logins at once send it once. */
  async function sendOnce(session: ClientSession, motd: Motd): Promise<void> {
    const bare = session.jid.bare;
    const got = await seen.get(bare, SK);
    if (got === motd.id) return;
    if (!(await seen.put(bare, SK, motd.id, got === undefined ? { ifNotExists: true } : { ifValue: got }))) return;
    if (session.open) session.send(stanza(session.jid.domain, session.jid.full, motd));
  }

  await reload();
  ctx.every(REFRESH_MS, reload);
  ctx.onStop(
    server.onNodePost(MOTD_TOPIC, (body) => {
      const post = JSON.parse(body) as MotdPost;
      // A post a dead node never read only updates what this node knows: its sessions were not that node's.
      const send = post.send && post.node === server.nodeId;
      // Not awaited: the stanzas other nodes forward here wait behind this post.
      applyHere({ ...post, send }).catch((err: unknown) => ctx.log.error('sending the message of the day failed', err));
    }),
  );
  ctx.hook('session/available', ({ session }) => {
    const motd = current.get(session.jid.domain);
    // Not awaited: the login goes on while the row is read.
    if (motd !== undefined) sendOnce(session, motd).catch((err: unknown) => ctx.log.warn(`message of the day to ${session.jid.full} failed`, err));
    return false;
  });
  ctx.hook('account/deleted', ({ jid }) => seen.delete(jid.bare, SK));

  const motdField = (values: string[]) => ({ var: 'motd', type: 'text-multi' as const, label: 'Message of the Day', required: true, values });

  add('set-motd', 'Set Message of the Day', (req) =>
    formThenProcess(req, adminForm('Setting the Message of the Day', 'Fill out this form to set the message of the day.', [motdField([])]), async (form) => {
      const here = await change(req.to.domain, { id: newId(), text: multiLine(form, 'motd') }, true);
      ctx.log.info(`${req.from.bare} set the message of the day of ${req.to.domain}`);
      return done(`Message of the day set; sent to ${here} session(s) on this node now, and to others as they log in`);
    }),
  );

  add('edit-motd', 'Edit Message of the Day', async (req) => {
    // The store, not this node's copy: the form shows the text an edit replaces (§4.25).
    const stored = await motds.get(req.to.domain, SK);
    const old = stored === undefined ? undefined : (JSON.parse(stored) as Motd);
    return formThenProcess(req, adminForm('Editing the Message of the Day', 'Fill out this form to edit the message of the day.', [motdField(old?.text.split('\n') ?? [])]), async (form) => {
      const text = multiLine(form, 'motd');
      // Editing corrects the text: those who got it are not sent it again. With none set, it is a new one.
      const here = await change(req.to.domain, { id: old?.id ?? newId(), text }, old === undefined);
      ctx.log.info(`${req.from.bare} edited the message of the day of ${req.to.domain}`);
      return done(old === undefined ? `Message of the day set; sent to ${here} session(s) on this node now` : 'Message of the day changed');
    });
  });

  add('delete-motd', 'Delete Message of the Day', async (req) => {
    await change(req.to.domain, null, false);
    ctx.log.info(`${req.from.bare} deleted the message of the day of ${req.to.domain}`);
    return done('Message of the day deleted');
  });
}
