/**
 * XEP-0215 end to end: stanza (someone else's client) asks sori for STUN and
 * TURN servers, and a real TURN server (coturn, Debian package `coturn`,
 * sharing a secret with sori) is asked to relay with the credentials sori
 * gave: it must accept them, and refuse them once tampered with.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { expect } from 'chai';
import type { Agent } from 'stanza';
import { canConnect, freePort, startSori, type SoriProcess } from './support/server.js';
import { connectStanza } from './support/clients.js';

const run = promisify(execFile);
const HOST = '127.0.0.1';

/** Allocates a relay on coturn with these credentials, as a client would before a call; true when coturn accepted them. */
async function turnAccepts(port: number, username: string, password: string, transport: 'udp' | 'tcp'): Promise<boolean> {
  const args = ['-y', '-n', '1', '-m', '1', '-l', '100', '-u', username, '-w', password, '-p', String(port), ...(transport === 'tcp' ? ['-t'] : []), HOST];
  try {
    await run('turnutils_uclient', args, { timeout: 20_000 });
    return true;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stdout?: string };
    if (err.code === 'ENOENT') throw new Error('turnutils_uclient is missing: install the Debian package coturn (scripts/setup.sh does)');
    if (!/Cannot complete Allocation/.test(err.stdout ?? '')) throw new Error(`turnutils_uclient failed for another reason than refused credentials: ${err.stdout ?? err.message}`);
    return false;
  }
}

describe('XEP-0215 external services with stanza and coturn', function () {
  this.timeout(60_000);
  const secret = randomBytes(16).toString('hex');
  let turnPort: number;
  let coturn: ChildProcess | undefined;
  let coturnOutput = '';
  let server: SoriProcess;
  let agent: Agent | undefined;

  before(async () => {
    turnPort = await freePort(HOST);
    coturn = spawn(
      'turnserver',
      ['-n', `--listening-ip=${HOST}`, `--listening-port=${turnPort}`, `--relay-ip=${HOST}`, '--use-auth-secret', `--static-auth-secret=${secret}`, '--realm=localhost', '--no-tls', '--no-dtls', '--no-cli', '--allow-loopback-peers', '--log-file=stdout', '--simple-log'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    coturn.stdout!.on('data', (d: Buffer) => (coturnOutput += d.toString()));
    coturn.stderr!.on('data', (d: Buffer) => (coturnOutput += d.toString()));
    const spawned = new Promise<void>((ok, fail) => {
      coturn!.once('spawn', ok);
      coturn!.once('error', (e: NodeJS.ErrnoException) => fail(e.code === 'ENOENT' ? new Error('turnserver is missing: install the Debian package coturn (scripts/setup.sh does)') : e));
    });
    await spawned;
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(HOST, turnPort))) {
      if (Date.now() > deadline) throw new Error(`coturn did not listen on ${HOST}:${turnPort}: ${coturnOutput}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    server = await startSori({
      users: { 'alice@localhost': 'alice-pw' },
      config: {
        modules: {
          options: {
            'external-services': { services: [`stun:${HOST}:${turnPort}`, `turn:${HOST}:${turnPort}?transport=udp`, `turn:${HOST}:${turnPort}?transport=tcp`], turnSecret: secret, credentialTtlSeconds: 600 },
          },
        },
      },
    });
    agent = await connectStanza(server, { username: 'alice', password: 'alice-pw' });
  });

  after(async () => {
    agent?.disconnect();
    await server?.stop();
    coturn?.kill('SIGTERM');
  });

  it('lists STUN and TURN, and coturn relays with the TURN credentials over UDP and TCP', async () => {
    const { services = [] } = await agent!.getServices(server.domain);
    expect(services.map((s) => `${s.type} ${s.host}:${s.port}/${s.transport}`)).to.deep.equal([`stun ${HOST}:${turnPort}/udp`, `turn ${HOST}:${turnPort}/udp`, `turn ${HOST}:${turnPort}/tcp`]);
    const turns = services.filter((s) => s.type === 'turn');
    for (const s of turns) {
      expect(s.username).to.match(/^\d+:alice@localhost$/);
      expect(s.expires!.getTime()).to.be.within(Date.now() + 590_000, Date.now() + 610_000);
      expect(await turnAccepts(turnPort, s.username!, s.password!, s.transport as 'udp' | 'tcp'), `coturn accepts the ${s.transport} credentials`).to.equal(true);
    }
    const tampered = turns[0]!.password!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
    expect(await turnAccepts(turnPort, turns[0]!.username!, tampered, 'udp'), 'coturn refuses a tampered password').to.equal(false);
    // What a WebRTC client makes of them (stanza's Jingle ICE server list).
    for (const s of services) agent!.jingle.addICEServer(s);
    expect(agent!.jingle.iceServers.map((i) => i.urls)).to.deep.include.members([[`turn:${HOST}:${turnPort}?transport=udp`], [`turn:${HOST}:${turnPort}?transport=tcp`]]);
  });

  it('gives fresh TURN credentials for a server the client names, and refuses them for STUN', async () => {
    const creds = await agent!.getServiceCredentials(server.domain, HOST, 'turn', turnPort);
    expect(creds.username).to.match(/^\d+:alice@localhost$/);
    expect(await turnAccepts(turnPort, creds.username!, creds.password!, 'udp')).to.equal(true);
    let refused: unknown;
    try {
      await agent!.getServiceCredentials(server.domain, HOST, 'stun', turnPort);
    } catch (e) {
      refused = e;
    }
    expect(JSON.stringify(refused)).to.include('item-not-found');
  });
});
