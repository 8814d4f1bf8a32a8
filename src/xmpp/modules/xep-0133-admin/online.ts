import { getValue } from '../../../util/data-form.js';
import { randomHex } from '../../../util/random-token.js';
import type { ModuleContext } from '../../module.js';
import type { CommandNote } from '../xep-0050-adhoc/api.js';
import { eachLocalSession, noticeStanza, postToOtherNodes, type Notice } from './broadcast.js';
import { adminForm, adminResult, formThenProcess, maxItems, maxItemsField, multiLine, type AddAdminCommand } from './forms.js';

/** An announcement for the online users of a domain on the node it names (body: `AnnouncePost` as JSON). */
const ANNOUNCE_TOPIC = 'admin/announce';
/** Asks a node for the online users of a domain it holds (body: `OnlineAsk`, answer: `OnlineAnswer`, as JSON). */
const ONLINE_TOPIC = 'admin/online';
/** How long a node's count may take before the command answers without it. */
const ONLINE_TIMEOUT_MS = 3000;
/** The most JIDs get-online-users-list answers, 'none' included: one iq result, not a dump of every session. */
const ONLINE_LIST_CEILING = 1000;

interface AnnouncePost {
  node: string;
  domain: string;
  id: string;
  notice: Notice;
}

interface OnlineAsk {
  domain: string;
  max: number;
}

interface OnlineAnswer {
  /** Accounts of the domain with a session on that node. */
  users: number;
  /** Up to `max` of them. */
  some: string[];
}

/** The online accounts of `domain` on this node, and up to `max` of their JIDs. */
async function localOnline(ctx: ModuleContext, domain: string, max: number): Promise<OnlineAnswer> {
  const users = new Set<string>();
  await eachLocalSession(ctx.server, domain, (s) => void users.add(s.jid.bare));
  const some: string[] = [];
  for (const bare of users) {
    if (some.length >= max) break;
    some.push(bare);
  }
  return { users: users.size, some };
}

/**
 * XEP-0133 §4.23 (announce), §4.15 (get-online-users-num) and §4.16
 * (get-online-users-list): what reaches or counts the sessions of every
 * cluster node. Each node walks its own sessions, in chunks; a cluster-wide
 * count of distinct accounts would need every node's list of JIDs, so the
 * count is each node's accounts summed, which the field's label says.
 */
export function startOnline(ctx: ModuleContext, add: AddAdminCommand): void {
  const server = ctx.server;

  const announceHere = (domain: string, id: string, notice: Notice): Promise<number> =>
    eachLocalSession(server, domain, (s) => s.send(noticeStanza(domain, s.jid.full, id, notice)));

  ctx.onStop(
    server.onNodePost(ANNOUNCE_TOPIC, (body) => {
      const post = JSON.parse(body) as AnnouncePost;
      if (post.node !== server.nodeId) return;
      // Not awaited: posts are handled one at a time, and the stanzas other nodes forward here wait behind this one.
      announceHere(post.domain, post.id, post.notice).catch((err: unknown) => ctx.log.error('announcement failed', err));
    }),
  );
  ctx.onStop(
    server.onNodeRequest(ONLINE_TOPIC, async (body) => {
      const ask = JSON.parse(body) as OnlineAsk;
      return JSON.stringify(await localOnline(ctx, ask.domain, ask.max));
    }),
  );

  /** Every node's online accounts of `domain`, and how many nodes did not answer in time. */
  async function clusterOnline(domain: string, max: number): Promise<{ answers: OnlineAnswer[]; nodes: number; silent: number }> {
    const others = server.clustered ? (await server.clusterNodes()).filter((n) => n !== server.nodeId) : [];
    const body = JSON.stringify({ domain, max } satisfies OnlineAsk);
    const remote = await Promise.all(others.map((n) => server.nodeRequest(n, ONLINE_TOPIC, body, ONLINE_TIMEOUT_MS)));
    const answers = [await localOnline(ctx, domain, max), ...remote.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as OnlineAnswer)];
    return { answers, nodes: others.length + 1, silent: remote.filter((r) => r === null).length };
  }

  const silentNote = (silent: number): CommandNote[] | undefined =>
    silent === 0 ? undefined : [{ type: 'warn', text: `${silent} cluster node(s) did not answer in time; their users are not counted` }];

  add('announce', 'Send Announcement to Online Users', (req) =>
    formThenProcess(
      req,
      adminForm('Making an Announcement', 'Fill out this form to make an announcement to all active users of this service.', [
        { var: 'subject', type: 'text-single', label: 'Subject', values: [] },
        { var: 'announcement', type: 'text-multi', label: 'Announcement', required: true, values: [] },
      ]),
      async (form) => {
        const domain = req.to.domain;
        const subject = getValue(form, 'subject')?.trim();
        const notice: Notice = { subject: subject === undefined || subject === '' ? undefined : subject, body: multiLine(form, 'announcement') };
        const id = `announce-${randomHex(6)}`;
        const posted = await postToOtherNodes(server, ANNOUNCE_TOPIC, (node) => JSON.stringify({ node, domain, id, notice } satisfies AnnouncePost));
        const here = await announceHere(domain, id, notice);
        ctx.log.info(`${req.from.bare} made an announcement to ${domain}`);
        const elsewhere = server.clustered ? ` and to those on ${posted} other cluster node(s)` : '';
        return { status: 'completed', notes: [{ type: 'info', text: `Announcement sent to ${here} session(s) on this node${elsewhere}` }] };
      },
    ),
  );

  add('get-online-users-num', 'Get Number of Online Users', async (req) => {
    const { answers, nodes, silent } = await clusterOnline(req.to.domain, 0);
    const users = answers.reduce((n, a) => n + a.users, 0);
    const label = nodes === 1 ? 'The number of online users' : `The number of online users (summed over ${nodes} cluster nodes: a user connected to two of them counts twice)`;
    return { status: 'completed', form: adminResult([{ var: 'onlineusersnum', type: 'text-single', label, values: [String(users)] }]), notes: silentNote(silent) };
  });

  add('get-online-users-list', 'Get List of Online Users', (req) =>
    formThenProcess(
      req,
      adminForm('Requesting List of Online Users', 'Fill out this form to request the online users of this service.', [maxItemsField()]),
      async (form) => {
        const limit = Math.min(maxItems(form), ONLINE_LIST_CEILING);
        const { answers, silent } = await clusterOnline(req.to.domain, limit);
        const jids = [...new Set(answers.flatMap((a) => a.some))].sort().slice(0, limit);
        const notes = silentNote(silent) ?? [];
        const total = answers.reduce((n, a) => n + a.users, 0);
        if (jids.length < total && jids.length === limit) notes.push({ type: 'info', text: `Showing ${jids.length} of the online users` });
        return {
          status: 'completed',
          form: adminResult([{ var: 'onlineuserjids', type: 'jid-multi', label: 'The list of all online users', values: jids }]),
          notes: notes.length === 0 ? undefined : notes,
        };
      },
    ),
  );
}
