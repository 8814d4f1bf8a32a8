import { x, type XmlElement } from '../../../util/xml.js';
import { NS_STANZAS, NS_STREAMS, StreamError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import { defineModule, type PreBindStream } from '../../module.js';
import { CLIENT_ACKS, type ClientSession } from '../../session.js';
import { AckWaiters } from './ack-waiters.js';
import { crossNodeResumption, type SmEntry } from './cross-node.js';
import { newResumeId, nodeOfResumeId } from './handover.js';
import { Reached } from './reached.js';
import { requeue } from './requeue.js';
import { NS_SM, parseH, SM, SmState } from './state.js';
import { NS_STREAM } from '../../rfc6120-namespaces.js';

export { NS_SM, SM } from './state.js';

/** SM's filter runs last, so it counts exactly what is written (CSI holds stanzas before, at a higher priority). */
export const SM_FILTER_PRIORITY = -1000;

/** Between the archive's copy (50) and carbons (-200), which strips `<private/>`. */
const REACHED_PRIORITY = -150;

function failed(condition: string, h?: number): XmlElement {
  return x('failed', { xmlns: NS_SM, h: h === undefined ? undefined : String(h) }, x(condition, { xmlns: NS_STANZAS }));
}

/**
 * XEP-0198 Stream Management: acknowledgements both ways and resumption.
 *
 * - `<enable/>` after bind starts counting; `<r/>` is answered with `<a h/>`,
 *   the server asks for acks after `requestAckEvery` stanzas and every
 *   `requestAckSeconds` while something is unacknowledged.
 * - Outbound counting is an outgoing filter at the lowest priority, so it sees
 *   what is actually written (after CSI has held or dropped stanzas). Every
 *   stanza reaches clients through `session.send`, error replies included, so
 *   the count matches what the client counts.
 * - Inbound counting is the core's `session.stanzasIn`, incremented for every
 *   client stanza (rejected ones too) before it is handled; the `<r/>` that
 *   follows is handled after them, in arrival order.
 * - Hibernation: when the connection breaks, a resumable session is kept
 *   (`session/disconnected` returns true) for min(client `max`,
 *   `resumeTimeoutSeconds`); what is sent meanwhile is queued, not written.
 *   `<resume/>` on a new stream of the same account re-sends the queue after
 *   `<resumed/>`; a connection still attached is closed with `conflict`.
 * - When a session ends with stanzas unacknowledged (timeout, stream error,
 *   clean close, shutdown), its messages with a body go to offline storage via
 *   `message/offline` with `requeued: true` (archivers skip those: they were
 *   archived when first routed) and a `<delay/>` of when they were sent;
 *   not those the user has anyway (requeue.ts): held by another session of
 *   the account here (the same message, or its carbon), or archived when the
 *   client caught up from the archive in this session.
 * - `CLIENT_ACKS` on the session tells others when the client has
 *   acknowledged what was written so far (or the session ended, after the
 *   requeue, or moved to another node): the cluster keeps a stanza forwarded
 *   from another node in its durable inbox until then.
 *
 * - Cluster (cross-node.ts): a `<resume/>` can arrive at any node. The resumption id names
 *   the node that issued it (handover.ts); another node asks that one to hand
 *   the session over (`ServerApi.nodeRequest`). The holder checks account and
 *   'h', detaches the session from its connection and sends its SmState and
 *   presence as plain data; the new node binds the same full JID (the session
 *   table now names it), answers `<resumed/>` and re-sends the queue. The
 *   bind's kick tells the holder: it passes on what reached the session since
 *   the snapshot and ends it without telling modules (no unavailable presence,
 *   no requeue). A holder that is dead or does not answer within
 *   `handoverSeconds` gives `<failed><item-not-found/>`: its queue goes
 *   offline by the dead-node path, or when it ends there. A holder that
 *   answered but hears no kick (the answer came too late) ends the session
 *   as one that timed out.
 */
export default defineModule({
  name: 'sm',
  implements: 'XEP-0198',
  options: {
    resumeTimeoutSeconds: { type: 'number', default: 300, min: 0, doc: 'Seconds a session whose connection broke is kept for resumption (the client may ask for less); 0 disables resumption.' },
    location: { type: 'optional-string', doc: 'Host:port clients should reconnect to for resumption (`location` in `<enabled/>`).' },
    requestAckEvery: { type: 'number', default: 5, min: 1, integer: true, doc: 'Unacknowledged stanzas after which the server asks the client for an ack.' },
    requestAckSeconds: { type: 'number', default: 30, min: 0.1, doc: 'How often clients with unacknowledged stanzas are asked for an ack.' },
    maxUnacked: { type: 'number', default: 5000, min: 1, integer: true, doc: 'Unacknowledged stanzas kept per session; past it a connected stream is closed and a hibernated session ends.' },
    handoverSeconds: { type: 'number', default: 5, min: 0.1, doc: 'Cluster: how long a node waits for the node holding a session to hand it over for resumption, and the holder, past that, for the node to take it.' },
    rememberEnded: { type: 'number', default: 1000, min: 0, integer: true, doc: 'Ended sessions whose final count is remembered, so a late `<resume/>` is told its `h`.' },
  },
  start(ctx) {
    const opts = ctx.options;
    /** Sessions with SM enabled, by resumption id (or session id when not resumable). */
    const active = new Map<string, SmEntry>();
    /** Resumption ids of ended sessions → account and final inbound h, oldest first. */
    const ended = new Map<string, { bare: string; h: number }>();

    const keyOf = (session: ClientSession, state: SmState): string => (state.resume ? state.id : session.id);

    // Who else holds each message, for requeue: after the archive (its copy is what is delivered), before carbons.
    const reached = new Reached();
    const note = (ev: RouteEvent): undefined => {
      reached.note(ev, ctx.server.localSessions(ev.to.bare));
      return undefined;
    };
    ctx.hook('message/bare', note, REACHED_PRIORITY);
    ctx.hook('message/full', note, REACHED_PRIORITY);

    function requestAck(session: ClientSession, state: SmState): void {
      state.requestScheduled = false;
      if (!session.open || !session.connected || session.get(SM) !== state) return;
      state.sinceRequest = 0;
      session.sendRaw(x('r', { xmlns: NS_SM }));
    }

    ctx.outgoingFilter((session, stanza) => {
      const state = session.get(SM);
      if (state === undefined) return stanza;
      state.push(stanza, Date.now());
      if (state.queue.length > opts.maxUnacked) {
        // Deferred: closing runs session/closed handlers, not something to do inside a write.
        queueMicrotask(() => overflow(session, state));
        return session.connected ? stanza : null;
      }
      if (!session.connected) return null;
      if (!state.requestScheduled && state.sinceRequest >= opts.requestAckEvery) {
        state.requestScheduled = true;
        // One <r/> after the burst, and after the stanza itself is written.
        queueMicrotask(() => requestAck(session, state));
      }
      return stanza;
    }, SM_FILTER_PRIORITY);

    function overflow(session: ClientSession, state: SmState): void {
      if (!session.open || session.get(SM) !== state || state.queue.length <= opts.maxUnacked) return;
      ctx.log.info(`${session.jid.full}: ${state.queue.length} unacknowledged stanzas, ending the session`);
      session.close('policy-violation', 'too many unacknowledged stanzas');
    }

    ctx.every(opts.requestAckSeconds * 1000, () => {
      for (const { session, state } of active.values()) {
        if (session.connected && state.queue.length > 0 && !state.requestScheduled) requestAck(session, state);
      }
    });

    ctx.streamFeature('post-auth', () => x('sm', { xmlns: NS_SM }));

    /** §3: turns SM on for a session; the answer is `<enabled/>` (or `<failed/>`), written or put into Bind2's `<bound/>`. */
    function enable(session: ClientSession, el: XmlElement): XmlElement {
      if (session.get(SM) !== undefined) return failed('unexpected-request');
      const wantsResume = el.attrs.resume === 'true' || el.attrs.resume === '1';
      const resume = wantsResume && opts.resumeTimeoutSeconds > 0;
      const clientMax = parseH(el.attrs.max);
      const max = clientMax !== null && clientMax > 0 ? Math.min(clientMax, opts.resumeTimeoutSeconds) : opts.resumeTimeoutSeconds;
      const id = resume ? newResumeId(ctx.server.nodeId) : '';
      const state = new SmState(id, resume, max, session.stanzasIn);
      active.set(keyOf(session, state), { session, state, acks: tracked(session, state), timer: null });
      return x('enabled', {
        xmlns: NS_SM,
        id: resume ? id : undefined,
        resume: resume ? 'true' : undefined,
        max: resume ? String(Math.ceil(max)) : undefined,
        location: resume ? opts.location : undefined,
      });
    }

    // XEP-0388/0386: resumption inside SASL2's <authenticate/> (handled as a pre-bind <resume/>), enabling inside Bind2.
    ctx.sasl2Inline(x('sm', { xmlns: NS_SM }));
    ctx.bind2Feature(NS_SM, (session, el) => (el.name === 'enable' ? enable(session, el) : failed('unexpected-request')));

    /** Sets the session's SM state and the CLIENT_ACKS that follow it. */
    function tracked(session: ClientSession, state: SmState): AckWaiters {
      const acks = new AckWaiters(state);
      session.set(SM, state);
      session.set(CLIENT_ACKS, acks);
      return acks;
    }

    /** Ends SM on a session; the caller releases the waiters once the unacknowledged stanzas are passed on. */
    function untrack(session: ClientSession): AckWaiters | undefined {
      const acks = session.get(CLIENT_ACKS);
      session.set(SM, undefined);
      session.set(CLIENT_ACKS, undefined);
      return acks instanceof AckWaiters ? acks : undefined;
    }

    function ack(session: ClientSession, state: SmState, el: XmlElement): void {
      const h = parseH(el.attrs.h);
      if (h === null) throw new StreamError('invalid-xml', "<a/> needs 'h', an unsigned 32-bit integer");
      const r = state.ack(h);
      if (r.ok) {
        active.get(keyOf(session, state))?.acks.acknowledged(r.released);
        return;
      }
      ctx.log.info(`${session.jid.full}: acknowledged ${h} stanzas, ${r.sent} were sent`);
      countTooHigh(session, h, r.sent);
    }

    /** §6: the peer acknowledged more than was sent (in `<a/>` or `<resume/>`, §5 treats both alike): a stream error, and the stream ends. */
    function countTooHigh(stream: Pick<PreBindStream, 'sendRaw' | 'close'>, h: number, sent: number): void {
      stream.sendRaw(
        x(
          'stream:error',
          { 'xmlns:stream': NS_STREAM },
          x('undefined-condition', { xmlns: NS_STREAMS }),
          x('handled-count-too-high', { xmlns: NS_SM, h: String(h), 'send-count': String(sent) }),
        ),
      );
      stream.close();
    }

    ctx.streamElement(NS_SM, (session, el) => {
      const state = session.get(SM);
      switch (el.name) {
        case 'enable':
          return session.sendRaw(enable(session, el));
        case 'r':
          if (state === undefined) throw new StreamError('unsupported-stanza-type', 'stream management is not enabled');
          session.sendRaw(x('a', { xmlns: NS_SM, h: String(state.handled(session.stanzasIn)) }));
          return;
        case 'a':
          if (state === undefined) throw new StreamError('unsupported-stanza-type', 'stream management is not enabled');
          return ack(session, state, el);
        case 'resume':
          // §5: resumption replaces binding; a bound stream cannot resume.
          session.sendRaw(failed('unexpected-request'));
          return;
        default:
          throw new StreamError('unsupported-stanza-type', `<${el.name}/> is not a stream management element`);
      }
    });

    ctx.preBindElement(NS_SM, (el, stream) => {
      if (el.name === 'resume') return resume(el, stream);
      // §3: enabling before binding is refused; the client may bind and enable after.
      if (el.name === 'enable') return stream.sendRaw(failed('unexpected-request'));
      throw new StreamError('unsupported-stanza-type', `<${el.name}/> is not allowed before resource binding`);
    });

    async function resume(el: XmlElement, stream: PreBindStream): Promise<void> {
      const previd = el.attrs.previd ?? '';
      const h = parseH(el.attrs.h);
      if (h === null) throw new StreamError('invalid-xml', "<resume/> needs 'h', an unsigned 32-bit integer");
      const bare = `${stream.username}@${stream.host}`;
      const entry = active.get(previd);
      if (entry === undefined && !ended.has(previd)) {
        const node = nodeOfResumeId(previd);
        if (node !== null && node !== ctx.server.nodeId) return crossNode.resumeFrom(node, previd, h, bare, stream);
      }
      if (entry === undefined || !entry.state.resume || entry.session.jid.bare !== bare || !entry.session.open) {
        const old = ended.get(previd);
        stream.sendRaw(failed('item-not-found', old !== undefined && old.bare === bare ? old.h : undefined));
        return;
      }
      const { session, state } = entry;
      const r = state.ack(h);
      if (!r.ok) return countTooHigh(stream, h, r.sent);
      entry.acks.acknowledged(r.released);
      if (entry.timer !== null) clearTimeout(entry.timer);
      entry.timer = null;
      state.hibernatedAt = 0;
      stream.sendRaw(x('resumed', { xmlns: NS_SM, previd, h: String(state.handled(session.stanzasIn)) }));
      stream.adoptSession(session);
      // Still unacknowledged: re-sent as they were, keeping their sequence numbers.
      for (const stanza of state.queue) session.sendRaw(stanza);
      state.sinceRequest = 0;
      if (state.queue.length > 0) requestAck(session, state);
      ctx.log.debug(`${session.jid.full}: resumed with h=${h}, ${state.queue.length} stanzas re-sent`);
      await ctx.server.emit('session/resumed', { session });
    }

    const crossNode = crossNodeResumption({ ctx, handoverSeconds: opts.handoverSeconds, active, ended, reached, tracked, untrack, requestAck, failed, countTooHigh });

    ctx.hook('session/disconnected', ({ session }) => {
      const state = session.get(SM);
      if (state === undefined || !state.resume) return false;
      const entry = active.get(state.id);
      if (entry === undefined) return false;
      state.hibernatedAt = Date.now();
      if (entry.timer !== null) clearTimeout(entry.timer);
      entry.timer = setTimeout(() => {
        entry.timer = null;
        if (session.open && !session.connected) session.close('connection-timeout', 'not resumed in time');
      }, state.maxSeconds * 1000);
      entry.timer.unref();
      ctx.log.debug(`${session.jid.full}: hibernated for ${state.maxSeconds} s, ${state.sent} stanzas sent, ${state.queue.length} unacknowledged`);
      // The core drops the connection once this chain returns: announce it after that.
      setImmediate(() => {
        if (session.open && !session.connected) void ctx.server.emit('session/hibernated', { session });
      });
      return true;
    }, 100);

    // Before presence's unavailable broadcast and offline delivery: the queue is moved first.
    ctx.hook('session/closed', async ({ session }) => {
      const state = session.get(SM);
      if (state === undefined) return;
      const acks = untrack(session);
      const key = keyOf(session, state);
      const entry = active.get(key);
      if (entry !== undefined && entry.session === session) {
        if (entry.timer !== null) clearTimeout(entry.timer);
        active.delete(key);
      }
      crossNode.forget(session);
      if (state.resume && opts.rememberEnded > 0) {
        ended.set(state.id, { bare: session.jid.bare, h: state.handled(session.stanzasIn) });
        if (ended.size > opts.rememberEnded) ended.delete(ended.keys().next().value!);
      }
      try {
        await requeue(ctx.server, ctx.log, session, state.queue, state.queuedAt, reached);
      } finally {
        acks?.releaseAll();
      }
    }, 100);

    ctx.onStop(() => {
      for (const entry of active.values()) if (entry.timer !== null) clearTimeout(entry.timer);
      active.clear();
      crossNode.stop();
    });
  },
});
