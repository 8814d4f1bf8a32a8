import { readFileSync } from 'node:fs';
import { release, type } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { x } from '../../../util/xml.js';
import { defineModule } from '../../module.js';

const NS_VERSION = 'jabber:iq:version';

/**
 * The version in sori's package.json. Looked up by walking up from this file
 * because the depth differs between `src/` (tsx) and `dist/src/` (built).
 */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'sori' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // no package.json here: keep walking up
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

/**
 * XEP-0092 Software Version of the server. The operating system is left out
 * by default: XEP-0092 §4 notes it helps attackers pick exploits.
 */
export default defineModule({
  name: 'version',
  implements: 'XEP-0092',
  options: {
    name: { type: 'string', default: 'sori', doc: 'Software name returned in <name/>.' },
    showOs: { type: 'boolean', default: false, doc: 'Include the operating system and its release in <os/>.' },
  },
  start(ctx) {
    const version = packageVersion();
    const os = `${type()} ${release()}`;
    ctx.feature(NS_VERSION);
    ctx.iq('get', NS_VERSION, 'query', () =>
      x('query', { xmlns: NS_VERSION }, x('name', null, ctx.options.name), x('version', null, version), ctx.options.showOs ? x('os', null, os) : null),
    );
  },
});
