/**
 * sori against slixmpp (Debian's python3-slixmpp, run with /usr/bin/python3):
 * each scenario script in conformance/slixmpp/ logs in over TCP + STARTTLS and
 * prints one JSON result. Missing slixmpp is a failure that says how to get it.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { expectPythonScenarioOk, runPythonScenario, type ScenarioResult } from './support/python-scenario.js';
import { freePort, startSori, type SoriProcess } from './support/server.js';

const SCRIPTS = join(dirname(fileURLToPath(import.meta.url)), 'slixmpp');
const USERS = { 'alice@localhost': 'alice-pw', 'bob@localhost': 'bob-pw' } as const;
const HOST = '127.0.0.1';
const COMPONENT = 'echo.localhost';
const COMPONENT_SECRET = 'echo-secret';

const scenario = (server: SoriProcess, script: string, accounts: [string, string][], extra: string[] = []): Promise<ScenarioResult> =>
  runPythonScenario(SCRIPTS, server, script, accounts, extra);

describe('slixmpp against sori (conformance/slixmpp)', function () {
  this.timeout(90_000);
  let server: SoriProcess;
  let componentPort: number;
  let proxyPort: number;
  const alice: [string, string] = ['alice@localhost', USERS['alice@localhost']];
  const bob: [string, string] = ['bob@localhost', USERS['bob@localhost']];

  before(async function () {
    if (!existsSync('/usr/lib/python3/dist-packages/slixmpp/__init__.py')) {
      throw new Error('python3-slixmpp is missing: run scripts/setup.sh (apt-get install -y python3-slixmpp)');
    }
    componentPort = await freePort(HOST);
    proxyPort = await freePort(HOST);
    server = await startSori({
      users: { ...USERS },
      config: {
        modules: {
          enabled: ['proxy65'],
          options: { components: { port: componentPort, bind: HOST, secrets: { [COMPONENT]: COMPONENT_SECRET } }, proxy65: { port: proxyPort } },
        },
      },
    });
  });

  after(async () => {
    await server?.stop();
  });

  const expectOk = (script: string, accounts: [string, string][], extra: string[] = []): Promise<ScenarioResult> =>
    expectPythonScenarioOk(SCRIPTS, server, script, accounts, extra);

  it('logs in over STARTTLS and binds a resource', async () => {
    const r = await expectOk('login.py', [alice]);
    expect(String(r.bound)).to.match(/^alice@localhost\/.+/);
  });

  it('gets a SASL not-authorized failure for a wrong password', async () => {
    const r = await scenario(server, 'login.py', [['alice@localhost', 'wrong-password']]);
    expect(r.ok, JSON.stringify(r)).to.equal(false);
    expect(r.condition, JSON.stringify(r)).to.equal('not-authorized');
  });

  it('subscribes both ways with approval, sees presence and ends at "both" (RFC 6121)', async () => {
    const r = await expectOk('roster.py', [alice, bob]);
    expect(r).to.include({ a_subscription: 'both', b_subscription: 'both', a_sees_b: true, b_sees_a: true });
  });

  it('delivers a chat message to the bare JID', async () => {
    const r = await expectOk('message.py', [alice, bob]);
    expect(String(r.from)).to.match(/^alice@localhost\/.+/);
  });

  it('archives messages for both parties (XEP-0313 via xep_0313)', async () => {
    const r = await expectOk('mam.py', [alice, bob]);
    expect(r.feature).to.equal(true);
    expect(r.sender_archive).to.have.length(3);
    expect(r.recipient_archive).to.deep.equal(r.sender_archive);
  });

  it('replaces a retracted message with a tombstone in both archives (XEP-0424 via xep_0424)', async () => {
    const r = await expectOk('retraction.py', [alice, bob]);
    expect(r.retraction_received_for).to.match(/-wrong$/);
    expect(r.recipient_archive).to.deep.equal(r.sender_archive);
  });

  it('copies sent and received messages to another resource (XEP-0280 via xep_0280)', async () => {
    const r = await expectOk('carbons.py', [alice, bob]);
    expect(r).to.include({ sent_carbon_from: 'alice@localhost', received_carbon_from: 'alice@localhost' });
  });

  it('carries stanzas to and from an external component (XEP-0114 via ComponentXMPP)', async () => {
    const r = await expectOk('component.py', [alice], ['--component', COMPONENT, COMPONENT_SECRET, String(componentPort)]);
    expect(r.from).to.equal(`bot@${COMPONENT}`);
  });

  it('refuses a component with the wrong secret', async () => {
    const r = await scenario(server, 'component.py', [alice], ['--component', COMPONENT, 'wrong-secret', String(componentPort)]);
    expect(r.ok, JSON.stringify(r)).to.equal(false);
    expect(String(r.error), JSON.stringify(r)).to.include('not-authorized');
  });

  it('follows an open PEP node without being a contact: subscribe, events, list, unsubscribe (XEP-0060 via xep_0060)', async () => {
    const r = await expectOk('pubsub.py', [alice, bob]);
    expect(r).to.deep.include({ subscription: 'subscribed', last_item: ['n1'], next_item: ['n2'], after_unsubscribe: [] });
  });

  it("tells a contact when an account was last online, with its status (XEP-0012 via xep_0012)", async () => {
    const r = await expectOk('last.py', [alice, bob]);
    expect(r.online_seconds).to.equal(0);
    expect(String(r.offline_status)).to.match(/^out for lunch-/);
  });

  it('routes chat markers untouched (XEP-0333 via xep_0333)', async () => {
    const r = await expectOk('markers.py', [alice, bob]);
    expect(r.markable_kept).to.equal(true);
  });

  it('sends a file through the server\'s SOCKS5 proxy, found by disco and activated by the initiator (XEP-0065 via xep_0065)', async () => {
    const r = await expectOk('bytestreams.py', [alice, bob]);
    expect(r.proxies).to.deep.equal({ 'proxy.localhost': [HOST, proxyPort] });
    expect(r).to.include({ b_received: 64 * 1024, b_sha1_matches: true, a_received: 'thanks' });
  });
});
