import { x } from '../../../util/xml.js';
import { defineModule } from '../../module.js';
import type { AdhocApi } from '../xep-0050-adhoc/api.js';

const NS_PING = 'urn:xmpp:ping';

/**
 * XEP-0199 XMPP Ping, both ways: clients ping the server (and accounts), and
 * the server pings clients that have been silent, closing those that do not
 * answer so that dead TCP connections do not linger as "online". With the
 * adhoc module loaded, also the "ping" command of XEP-0050 §4 (Prosody's and
 * ejabberd's node), for users whose client has a commands menu but no ping.
 */
export default defineModule({
  name: 'ping',
  implements: 'XEP-0199',
  optionalDepends: ['adhoc'],
  options: {
    idleSeconds: { type: 'number', default: 300, min: 1, doc: 'Silence after which the server pings a client; told to clients after authentication as XEP-0478 idle-seconds (with c2s.sasl2 also before it).' },
    timeoutSeconds: { type: 'number', default: 60, min: 1, doc: 'Seconds to answer a server ping before the connection is dropped; a session that can resume (XEP-0198) waits for its client to, as after any broken connection.' },
    checkEverySeconds: { type: 'number', default: 30, min: 0.1, doc: 'How often idle sessions are looked for.' },
  },
  start(ctx) {
    ctx.feature(NS_PING, 'both');
    ctx.iq('get', NS_PING, 'ping', () => null, 'both');
    // XEP-0478's idle-seconds is exactly this: silence after which the server checks that the client is alive.
    ctx.streamLimit('idle-seconds', ctx.options.idleSeconds);

    const adhoc = ctx.useIfLoaded<AdhocApi>('adhoc');
    if (adhoc !== null) {
      // Anyone: it tells no more than answering urn:xmpp:ping does.
      ctx.onStop(
        adhoc.addCommand({
          node: 'ping',
          name: 'Ping',
          allowed: () => true,
          execute: () => ({ status: 'completed', notes: [{ type: 'info', text: `Pong\n${new Date().toISOString()}` }] }),
        }),
      );
    }

    const pinging = new Set<string>();
    ctx.every(ctx.options.checkEverySeconds * 1000, () => {
      const cutoff = Date.now() - ctx.options.idleSeconds * 1000;
      for (const session of ctx.server.allSessions()) {
        if (!session.connected || session.lastActivity > cutoff || pinging.has(session.id)) continue;
        pinging.add(session.id);
        const sentAt = Date.now();
        const ping = x('iq', { type: 'get', from: session.host, to: session.jid.full }, x('ping', { xmlns: NS_PING }));
        void ctx.server.sendIq(ping, ctx.options.timeoutSeconds * 1000).then((reply) => {
          pinging.delete(session.id);
          // Any answer (an error too) comes from the client; any traffic since also proves it alive.
          const answered = reply !== null;
          // Taken for a connection that broke without a close (a phone out of coverage): stream management may keep the session.
          if (!answered && session.open && session.connected && session.lastActivity <= sentAt) session.dropConnection('connection-timeout', 'no answer to ping');
        });
      }
    });
  },
});
