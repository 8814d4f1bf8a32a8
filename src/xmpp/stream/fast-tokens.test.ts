import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config.js';
import { startSori, type Sori } from '../../sori.js';
import { MemoryStore } from '../../storage/memory/index.js';
import { RawClient } from '../../testing/raw-client.js';
import { parseJid } from '../../util/jid.js';
import type { XmlElement } from '../../util/xml.js';

const NS_FAST = 'urn:xmpp:fast:0';
const REQUEST_TOKEN = `<request-token xmlns='${NS_FAST}' mechanism='HT-SHA-256-NONE'/>`;
const tokenOf = (success: XmlElement): string => success.getChild('token', NS_FAST)!.attrs.token!;

describe('XEP-0484 FAST token rotation (real sockets)', function () {
  this.timeout(20000);
  let sori: Sori;
  let port: number;
  const open: RawClient[] = [];

  before(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sori-fast-'));
    const config = loadConfig({ env: {}, overrides: { server: { dataDir, logLevel: 'error' }, storage: { backend: 'memory' }, c2s: { sasl2: true } } });
    sori = await startSori(config, { ephemeralPorts: true, store: new MemoryStore() });
    port = sori.listening.ports.c2s!;
    await sori.server.createAccount(parseJid('carol@localhost'), 'secret');
    await sori.server.createAccount(parseJid('dave@localhost'), 'secret');
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.destroy();
  });
  after(() => sori.stop());

  /** A TLS stream opened up to the pre-authentication features. */
  async function preAuth(): Promise<RawClient> {
    const c = await RawClient.connect(port);
    open.push(c);
    await c.startTls();
    c.open();
    await c.features();
    return c;
  }

  it('keeps the token in use valid while the new ones it asked for never arrive (§3.5: not invalidated until the new one is used)', async () => {
    const ua = 'b9a0c8f4-6a3e-4b8e-9d35-0f0e1c2a7d11';
    const first = tokenOf(await (await preAuth()).scram2('carol', 'secret', REQUEST_TOKEN, ua));
    // Two FAST logins in a row ask for a new token, and the connection drops before either <success/> arrives:
    // the client still holds only the first token.
    for (const attempt of [1, 2]) {
      const lost = await (await preAuth()).fast('carol', first, ua, REQUEST_TOKEN);
      expect(lost.name, `login ${attempt}: ${lost.toString()}`).to.equal('success');
    }
    const again = await (await preAuth()).fast('carol', first, ua);
    expect(again.name, again.toString()).to.equal('success');
  });

  it('ends a token that was issued but never used once a newer one is issued (§3.5 SHOULD)', async () => {
    const ua = '0d7f5a52-3c8e-4e61-a1f4-52b8b0f2c9e3';
    const unused = tokenOf(await (await preAuth()).scram2('dave', 'secret', REQUEST_TOKEN, ua));
    const newer = tokenOf(await (await preAuth()).scram2('dave', 'secret', REQUEST_TOKEN, ua));
    expect((await (await preAuth()).fast('dave', unused, ua)).name, 'the unused older token').to.equal('failure');
    expect((await (await preAuth()).fast('dave', newer, ua)).name, 'the newer token').to.equal('success');
  });
});
