import { x, type XmlElement } from '../../../util/xml.js';
import { StreamError } from '../../errors.js';
import { defineModule } from '../../module.js';
import { SessionKey, type ClientSession } from '../../session.js';
import { classify } from './classify.js';

export const NS_CSI = 'urn:xmpp:csi:0';

/**
 * CSI's filter runs first of all filters. What it holds has not been through
 * any other filter yet, so the flush sends it through `session.send` and each
 * later filter (stream management's count last) sees it exactly once.
 */
export const CSI_FILTER_PRIORITY = 1000;
/** After stream management moves the stanzas that were written to offline storage: the held ones came later. */
const HELD_REQUEUE_PRIORITY = 50;

/** Held stanzas of an inactive session, in order; a replaced presence leaves a null slot. */
class CsiState {
  inactive = false;
  /** Set while held stanzas are re-sent, so the filter lets them through. */
  flushing = false;
  held: (XmlElement | null)[] = [];
  /** Sender full JID → index of its held presence in `held`. */
  readonly presenceAt = new Map<string, number>();
}

const CSI = new SessionKey<CsiState>('csi');

/**
 * XEP-0352 Client State Indication. While a client says it is `<inactive/>`:
 *   - presence updates (available/unavailable) are held, only the latest per
 *     sender full JID;
 *   - messages that carry nothing but a XEP-0085 chat state are dropped
 *     (a stale "typing…" is worthless once the user looks);
 *   - other messages without a body (receipts, markers, pubsub events,
 *     headlines…) are held;
 *   - everything urgent goes out at once: iq, messages with a body or an
 *     encrypted payload (OMEMO, OpenPGP, XEP-0027), carbons of such messages,
 *     chat markers the user sent from another device (as carbons, or XEP-0490's
 *     PEP node: the phone clears its notification for what was read there),
 *     MAM results (the client asked for them), errors, and presence
 *     subscription requests and answers. Held messages are sent just before
 *     it, so messages keep their order; held presence stays held (it is
 *     state: only the latest matters, and it is what inactive clients save
 *     most on).
 * `<active/>` (and stream resumption: the state is not restored, §5.2) flushes
 * what was held, in order. Past `maxHeld` held stanzas everything is flushed.
 */
export default defineModule({
  name: 'csi',
  implements: 'XEP-0352',
  options: {
    maxHeld: { type: 'number', default: 256, min: 1, integer: true, doc: 'Held stanzas per inactive session before all of them are sent anyway.' },
  },
  start(ctx) {
    const maxHeld = ctx.options.maxHeld;

    /** Sends what was held, in order; with `keepPresence`, presence stays held (only messages go). */
    function flush(session: ClientSession, state: CsiState, keepPresence = false): void {
      const held = state.held;
      if (held.length === 0) return;
      state.held = [];
      state.presenceAt.clear();
      state.flushing = true;
      try {
        for (const stanza of held) {
          if (stanza === null) continue;
          if (keepPresence && stanza.name === 'presence') {
            state.presenceAt.set(stanza.attrs.from ?? '', state.held.length);
            state.held.push(stanza);
          } else session.send(stanza);
        }
      } finally {
        state.flushing = false;
      }
    }

    ctx.outgoingFilter((session, stanza) => {
      const state = session.get(CSI);
      if (state === undefined || !state.inactive || state.flushing) return stanza;
      switch (classify(stanza)) {
        case 'urgent':
          // Held messages go first so that messages keep their order; presence waits for <active/>.
          flush(session, state, true);
          return stanza;
        case 'drop':
          return null;
        case 'presence': {
          const from = stanza.attrs.from ?? '';
          const at = state.presenceAt.get(from);
          if (at !== undefined) state.held[at] = null;
          state.presenceAt.set(from, state.held.length);
          break;
        }
      }
      state.held.push(stanza);
      if (state.held.length > maxHeld) flush(session, state);
      return null;
    }, CSI_FILTER_PRIORITY);

    ctx.streamFeature('post-auth', () => x('csi', { xmlns: NS_CSI }));

    // XEP-0386: a client bound inline may say at once that it is in the background.
    ctx.bind2Feature(NS_CSI, (session, el) => {
      if (el.name !== 'inactive') return;
      const state = session.get(CSI) ?? new CsiState();
      state.inactive = true;
      session.set(CSI, state);
    });

    ctx.streamElement(NS_CSI, (session, el) => {
      let state = session.get(CSI);
      if (el.name === 'inactive') {
        if (state === undefined) session.set(CSI, (state = new CsiState()));
        state.inactive = true;
      } else if (el.name === 'active') {
        if (state === undefined || !state.inactive) return;
        state.inactive = false;
        flush(session, state);
      } else {
        throw new StreamError('unsupported-stanza-type', `<${el.name}/> is not a client state`);
      }
    });

    // A session that ends while inactive never wrote what it held, and stream management never counted it:
    // its messages go where a message for an account with no session goes (offline storage). Presence is stale by now.
    ctx.hook(
      'session/closed',
      async ({ session }) => {
        const state = session.get(CSI);
        if (state === undefined || state.held.length === 0) return;
        const held = state.held;
        state.held = [];
        state.presenceAt.clear();
        const to = session.jid.toBare();
        for (const stanza of held) {
          if (stanza !== null && stanza.name === 'message') await ctx.server.emit('message/offline', { stanza, to, requeued: true });
        }
      },
      HELD_REQUEUE_PRIORITY,
    );

    // A sleeping session taken over on another node continues there as resumed, active (§5.2): what it
    // held goes now into stream management's queue, which is passed on to that node. Before that hand-over.
    ctx.hook(
      'session/replaced',
      ({ session }) => {
        const state = session.get(CSI);
        if (state === undefined || !state.inactive || session.connected) return;
        state.inactive = false;
        flush(session, state);
      },
      HELD_REQUEUE_PRIORITY,
    );

    ctx.hook('session/resumed', ({ session }) => {
      const state = session.get(CSI);
      if (state === undefined || !state.inactive) return;
      state.inactive = false;
      flush(session, state);
    });
  },
});
