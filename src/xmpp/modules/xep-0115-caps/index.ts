import { x } from '../../../util/xml.js';
import { defineModule } from '../../module.js';
import type { DiscoApi } from '../xep-0030-disco/index.js';
import { capsVer } from './ver.js';

const NS_CAPS = 'http://jabber.org/protocol/caps';

/**
 * XEP-0115 Entity Capabilities for the server itself: a `<c/>` stream feature
 * (before and after authentication) whose `ver` hashes the server's
 * disco#info, and the disco#info answer for `node#ver`. The disco module is
 * the one source of what the server's disco#info says, so the hash and the
 * answer cannot disagree.
 */
export default defineModule({
  name: 'caps',
  implements: 'XEP-0115',
  depends: ['disco'],
  options: {
    node: { type: 'string', default: 'https://sori.dev', doc: 'The caps node URI identifying the server software (XEP-0115 §4).' },
  },
  start(ctx) {
    const disco = ctx.use<DiscoApi>('disco');
    const node = ctx.options.node;
    ctx.feature(NS_CAPS);

    // Computed once everything is loaded: modules that start after this one add features too.
    let ver: string | null = null;
    const current = (): string => {
      if (ver === null) {
        const info = disco.serverInfo();
        ver = capsVer(info.identities, info.features, info.extensions);
      }
      return ver;
    };
    ctx.hook('server/started', () => {
      ver = null;
    });

    ctx.onStop(disco.addInfoNode((asked) => (asked === `${node}#${current()}` ? disco.serverInfo() : null)));
    const feature = () => x('c', { xmlns: NS_CAPS, hash: 'sha-1', node, ver: current() });
    ctx.streamFeature('pre-auth', feature);
    ctx.streamFeature('post-auth', feature);
  },
});
