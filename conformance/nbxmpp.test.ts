/**
 * sori against python-nbxmpp, Gajim's protocol library (Debian's python3-nbxmpp
 * 4.2, the line Gajim 1.7/1.8 uses, on GLib through python3-gi, run with
 * /usr/bin/python3): each scenario script in conformance/nbxmpp/ drives
 * nbxmpp.client.Client as Gajim does, over TCP + STARTTLS with the self-signed
 * certificate's UNKNOWN_CA ignored as a Gajim user does, and prints one JSON
 * result. Missing nbxmpp is a failure that says how to get it.
 *
 * nbxmpp 4.2 never uses SCRAM-*-PLUS (sasl.py drops them: "not supported via
 * GLib"), so channel binding is not exercised here; the slixmpp and
 * @xmpp/client suites do.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { expectPythonScenarioOk, runPythonScenario, type ScenarioResult } from './support/python-scenario.js';
import { startSori, type SoriProcess } from './support/server.js';

const SCRIPTS = join(dirname(fileURLToPath(import.meta.url)), 'nbxmpp');
const USERS = { 'alice@localhost': 'alice-pw', 'bob@localhost': 'bob-pw' } as const;

const scenario = (server: SoriProcess, script: string, accounts: [string, string][], extra: string[] = []): Promise<ScenarioResult> =>
  runPythonScenario(SCRIPTS, server, script, accounts, extra);

describe('nbxmpp (Gajim) against sori (conformance/nbxmpp)', function () {
  this.timeout(90_000);
  let server: SoriProcess;
  const alice: [string, string] = ['alice@localhost', USERS['alice@localhost']];
  const bob: [string, string] = ['bob@localhost', USERS['bob@localhost']];

  before(async function () {
    if (!existsSync('/usr/lib/python3/dist-packages/nbxmpp/__init__.py')) {
      throw new Error('python3-nbxmpp is missing: run scripts/setup.sh (apt-get install -y python3-nbxmpp)');
    }
    server = await startSori({ users: { ...USERS } });
  });

  after(async () => {
    await server?.stop();
  });

  const expectOk = (script: string, accounts: [string, string][], extra: string[] = []): Promise<ScenarioResult> =>
    expectPythonScenarioOk(SCRIPTS, server, script, accounts, extra);

  it('logs in over STARTTLS with SCRAM-SHA-256, binds, and lists a contact added under a name', async () => {
    const r = await expectOk('login.py', [alice, bob]);
    // nbxmpp's preference among what sori offers, the -PLUS ones being skipped by nbxmpp itself.
    expect(r.offered).to.include.members(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']);
    expect(r.mechanism).to.equal('SCRAM-SHA-256');
    expect(String(r.bound)).to.match(/^alice@localhost\/nbxmpp-/);
    expect(String(r.roster_name)).to.match(/^Bob-/);
    expect(r.sm_offered).to.equal(true);
  });

  it('shows a wrong password as SASL not-authorized', async () => {
    const r = await scenario(server, 'login.py', [['alice@localhost', 'wrong-password'], bob]);
    expect(r, JSON.stringify(r)).to.include({ ok: false, error_domain: 'SASL', condition: 'not-authorized' });
  });

  it('reports the self-signed certificate as UNKNOWN_CA when the user has not accepted it', async () => {
    const r = await scenario(server, 'login.py', [alice, bob], ['--verify']);
    expect(r, JSON.stringify(r)).to.include({ ok: false, error_domain: 'BAD_CERTIFICATE' });
    expect(r.tls_errors).to.deep.equal(['UNKNOWN_CA']);
  });

  it('delivers a chat message and brings back its receipt (XEP-0184) and displayed marker (XEP-0333)', async () => {
    const r = await expectOk('message.py', [alice, bob]);
    expect(r.body).to.equal(r.sent_body);
    expect(String(r.from)).to.match(/^alice@localhost\/.+/);
    expect(r.receipt_for).to.equal(r.sent_id);
    expect(r.displayed_for).to.equal(r.sent_id);
  });

  it('resumes the stream after its TCP connection is cut and gets the message sent meanwhile once (XEP-0198)', async () => {
    const r = await expectOk('resume.py', [alice, bob]);
    expect(r.resumed).to.equal(true);
    expect(r.body).to.equal(r.sent_body);
    expect(r.copies).to.equal(1);
  });

  it("finds the message in both parties' archives with nbxmpp's MAM module (XEP-0313)", async () => {
    const r = await expectOk('mam.py', [alice, bob]);
    const found = [...(r.sender_found as { from: string; body: string }[]), ...(r.recipient_found as { from: string; body: string }[])];
    expect(found).to.have.length(2);
    for (const hit of found) expect(hit).to.include({ from: 'alice@localhost', body: r.sent_body });
  });

  it('copies a sent and a received message to the other resource (XEP-0280)', async () => {
    const r = await expectOk('carbons.py', [alice, bob]);
    expect(r.a2_body).to.equal(r.sent_body);
    expect(r).to.include({ a2_carbon: 'sent', a2_to: 'bob@localhost', a2_received_carbon: 'received' });
  });
});
