// Both sides of resuming a session held by another cluster node: the only part of SM that talks to other nodes.
import { x, type XmlElement } from '../../../util/xml.js';
import type { ModuleContext, PreBindStream } from '../../module.js';
import type { ClientSession } from '../../session.js';
import type { AckWaiters } from './ack-waiters.js';
import { HANDOVER_TOPIC, restore, snapshot, type HandoverAnswer, type HandoverRequest } from './handover.js';
import type { Reached } from './reached.js';
import { requeue } from './requeue.js';
import { NS_SM, SM, type SmState } from './state.js';

/** A session with SM enabled, as index.ts keeps it by resumption id. */
export interface SmEntry {
  session: ClientSession;
  state: SmState;
  acks: AckWaiters;
  timer: NodeJS.Timeout | null;
}

export interface CrossNodeDeps {
  ctx: ModuleContext;
  handoverSeconds: number;
  /** index.ts's sessions with SM enabled, and the final counts of ended ones: a hand-over reads and moves them. */
  active: Map<string, SmEntry>;
  ended: ReadonlyMap<string, { bare: string; h: number }>;
  reached: Reached;
  tracked(session: ClientSession, state: SmState): AckWaiters;
  untrack(session: ClientSession): AckWaiters | undefined;
  requestAck(session: ClientSession, state: SmState): void;
  failed(condition: string, h?: number): XmlElement;
  countTooHigh(stream: Pick<PreBindStream, 'sendRaw' | 'close'>, h: number, sent: number): void;
}

export interface CrossNode {
  /** Resumes a session held by `node`: it hands the session over, this node continues it. */
  resumeFrom(node: string, previd: string, h: number, bare: string, stream: PreBindStream): Promise<void>;
  /** The session ended here: it is no longer waiting for another node to take it. */
  forget(session: ClientSession): void;
  stop(): void;
}

/**
 * Registers the holder's side (the node request and the 'session/replaced'
 * hook, at the default priority) where it is called, so index.ts keeps the
 * order of its registrations.
 */
export function crossNodeResumption(deps: CrossNodeDeps): CrossNode {
  const { ctx, active, ended, reached } = deps;
  /** Sessions handed to another node, until it binds their JID (its kick: 'session/replaced') or has given up. */
  const handing = new Map<ClientSession, { node: string; handed: number; timer: NodeJS.Timeout }>();

  async function resumeFrom(node: string, previd: string, h: number, bare: string, stream: PreBindStream): Promise<void> {
    const timeoutMs = deps.handoverSeconds * 1000;
    const request: HandoverRequest = { previd, bare, h, deadline: Date.now() + timeoutMs, waitMs: timeoutMs };
    const raw = await ctx.server.nodeRequest(node, HANDOVER_TOPIC, JSON.stringify(request), timeoutMs);
    const answer: HandoverAnswer = raw === null ? { ok: false } : (JSON.parse(raw) as HandoverAnswer);
    if (!answer.ok) {
      if (answer.sent !== undefined) return deps.countTooHigh(stream, h, answer.sent);
      stream.sendRaw(deps.failed('item-not-found', answer.h));
      return;
    }
    const snap = answer.session;
    const session = stream.bindHandedOver(snap.full.slice(snap.full.indexOf('/') + 1));
    const state = restore(session, snap, previd);
    state.ack(h); // checked by the holder
    active.set(previd, { session, state, acks: deps.tracked(session, state), timer: null });
    // Synchronously, before anything else can be written to the new session.
    stream.sendRaw(x('resumed', { xmlns: NS_SM, previd, h: String(snap.hIn) }));
    for (const stanza of state.queue) session.sendRaw(stanza);
    if (state.queue.length > 0) deps.requestAck(session, state);
    ctx.log.debug(`${session.jid.full}: resumed from node ${node}, ${state.queue.length} stanzas re-sent`);
    await ctx.server.emit('session/bound', { session });
    await ctx.server.emit('session/resumed', { session });
  }

  /** The holder's side of resumeFrom. */
  function handOver(body: string, fromNode: string): string {
    const req = JSON.parse(body) as HandoverRequest;
    const entry = active.get(req.previd);
    if (entry === undefined || !entry.state.resume || entry.session.jid.bare !== req.bare || !entry.session.open || Date.now() > req.deadline) {
      const old = ended.get(req.previd);
      return JSON.stringify({ ok: false, h: old !== undefined && old.bare === req.bare ? old.h : undefined } satisfies HandoverAnswer);
    }
    const { session, state } = entry;
    const released = (req.h - state.acked) >>> 0;
    if (released > state.queue.length) return JSON.stringify({ ok: false, sent: state.sent } satisfies HandoverAnswer);
    const snap = snapshot(session, state);
    if (entry.timer !== null) clearTimeout(entry.timer);
    active.delete(req.previd);
    // The session stays here, without its connection, until the asker binds its JID (below): an
    // answer that reaches it too late is dropped there, and the session then ends here as if it
    // had timed out, its queue going offline and its contacts told. What reaches it meanwhile is
    // queued after the snapshot's stanzas, for the new node.
    session.suspend();
    // The asker's wait, then ours again for its bind and kick to arrive.
    const waitMs = (typeof req.waitMs === 'number' ? req.waitMs : deps.handoverSeconds * 1000) + deps.handoverSeconds * 1000;
    const timer = setTimeout(() => {
      handing.delete(session);
      ctx.log.info(`${session.jid.full}: node ${fromNode} did not take the session over; ending it`);
      session.close('connection-timeout', 'not resumed in time');
    }, waitMs);
    timer.unref();
    handing.set(session, { node: fromNode, handed: state.queue.length, timer });
    ctx.log.debug(`${session.jid.full}: handed over to node ${fromNode} for resumption`);
    return JSON.stringify({ ok: true, session: snap } satisfies HandoverAnswer);
  }
  ctx.onStop(ctx.server.onNodeRequest(HANDOVER_TOPIC, handOver));

  // The node that asked for the session has bound its JID: it holds the session from here. What
  // reached it here after the snapshot is passed on, as it is, to the session there.
  ctx.hook('session/replaced', async ({ session, node }) => {
    const handed = handing.get(session);
    if (handed === undefined || handed.node !== node) return false;
    clearTimeout(handed.timer);
    handing.delete(session);
    const state = session.get(SM)!;
    const later = state.queue.slice(handed.handed);
    const laterAt = state.queuedAt.slice(handed.handed);
    const acks = deps.untrack(session);
    session.handOver();
    try {
      const there = later.length === 0 ? undefined : (await ctx.server.resources(session.jid.bare)).find((r) => r.full === session.jid.full);
      for (let i = 0; i < later.length; i++) {
        if (there !== undefined && (await ctx.server.deliver(there, later[i]!))) continue;
        await requeue(ctx.server, ctx.log, session, [later[i]!], [laterAt[i]!], reached);
      }
    } finally {
      acks?.releaseAll();
    }
    return true;
  });

  return {
    resumeFrom,
    forget(session) {
      const handed = handing.get(session);
      if (handed === undefined) return;
      clearTimeout(handed.timer);
      handing.delete(session);
    },
    stop() {
      for (const handed of handing.values()) clearTimeout(handed.timer);
      handing.clear();
    },
  };
}
