/**
 * Federation, end to end, against real servers: sori (sori.test on
 * 127.0.0.1, s2s on 5269) with Debian's Prosody 0.12 (prosody.test on
 * 127.0.0.2) and ejabberd 23.01 (ejabberd.test on 127.0.0.3). Users on every
 * side are real @xmpp/client connections. Each peer starts once for the file;
 * sori is started twice:
 *   - "SASL EXTERNAL": sori's certificate comes from the test CA and sori trusts
 *     that CA (s2s.ca), so every stream authenticates with XEP-0178;
 *   - "dialback": sori presents a self-signed certificate and trusts only the
 *     system roots, so neither side can use certificates and XEP-0220 runs.
 * Which method ran is read from sori's s2s authentication log.
 *
 * Prerequisites: prosody and ejabberd installed (scripts/setup-federation.sh),
 * root (ejabberd is run as its own user through runuser), and the addresses
 * 127.0.0.1:5269, 127.0.0.2:5222/5269 and 127.0.0.3:5222/5269 free.
 */
import { expect } from 'chai';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import { startSori, type Sori } from '../src/sori.js';
import { TestCa, type Pem } from '../src/testing/test-ca.js';
import { parseJid } from '../src/util/jid.js';
import { connectTcp, trustTestPort, xml, type Element, type XmppSession } from './support/clients.js';
import { startEjabberd } from './support/federation/ejabberd.js';
import { startProsody, type Peer } from './support/federation/prosody.js';
import { startTestDns, type TestDns } from './support/federation/dns.js';
import { RawS2s } from '../src/testing/raw-s2s.js';
import { MemoryStore } from '../src/storage/memory/index.js';
import { redisService } from '../src/testing/services/redis.js';
import { freePort } from '../src/testing/services/child-process.js';
import { canConnect } from './support/server.js';

const SORI = { domain: 'sori.test', address: '127.0.0.1' };
/**
 * Two sori nodes sharing Redis and one store serve this domain. Prosody
 * resolves it to node A (127.0.0.1), ejabberd to node B (127.0.0.4), so each
 * peer's inbound streams land on one node while users sit on both.
 */
const CLUSTER = { domain: 'sori-cluster.test', addresses: ['127.0.0.1', '127.0.0.4'] } as const;
const PEERS = {
  prosody: { domain: 'prosody.test', address: '127.0.0.2' },
  ejabberd: { domain: 'ejabberd.test', address: '127.0.0.3' },
} as const;
type PeerName = keyof typeof PEERS;
const PASSWORD = 'fed-secret-1';
const DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const NS_MUC = 'http://jabber.org/protocol/muc';
const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';
const NS_MUC_OWNER = 'http://jabber.org/protocol/muc#owner';
/** An occupant's presence from `occupant`; `self` asks for status 110 (XEP-0045 §7.2.2). */
const isOccupant = (occupant: string, self = false) => (el: Element) =>
  el.name === 'presence' && el.attrs.from === occupant && el.attrs.type === undefined &&
  (!self || (el.getChild('x', NS_MUC_USER)?.getChildren('status') ?? []).some((st) => st.attrs.code === '110'));


const isPresence = (from: string, type?: string) => (el: Element) =>
  el.name === 'presence' && (el.attrs.from as string | undefined)?.split('/')[0] === from && (type === undefined ? el.attrs.type === undefined : el.attrs.type === type);

describe('federation with Prosody and ejabberd (s2s)', function () {
  this.timeout(180_000);
  let dir: string;
  let ca: TestCa;
  const certs: Record<string, Pem> = {};
  const peers: Partial<Record<PeerName, Peer>> = {};
  let dns: TestDns | undefined;

  before(async function () {
    this.timeout(180_000);
    const busy: string[] = [];
    for (const [host, port] of [[SORI.address, 5269], [CLUSTER.addresses[1], 5269], [PEERS.prosody.address, 5222], [PEERS.prosody.address, 5269], [PEERS.ejabberd.address, 5222], [PEERS.ejabberd.address, 5269]] as const) {
      if (await canConnect(host, port)) busy.push(`${host}:${port}`);
    }
    if (busy.length > 0) throw new Error(`federation tests need ${busy.join(', ')} free (peers resolve sori.test to ${SORI.address}:5269); stop what listens there`);
    dir = mkdtempSync(join(tmpdir(), 'sori-federation-'));
    chmodSync(dir, 0o755); // ejabberd runs as its own user and must reach its directory
    ca = TestCa.create('sori federation test CA');
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
    for (const d of [SORI.domain, PEERS.prosody.domain, PEERS.ejabberd.domain, 'evil.test']) certs[d] = ca.issue([d]);
    certs['self'] = TestCa.selfSigned([SORI.domain]);
    certs['cluster'] = TestCa.selfSigned([CLUSTER.domain]);
    for (const [name, pem] of Object.entries(certs)) {
      writeFileSync(join(dir, `${name}.crt`), pem.cert);
      writeFileSync(join(dir, `${name}.key`), pem.key, { mode: 0o600 });
    }
    const hosts = { [SORI.domain]: SORI.address, [`conference.${SORI.domain}`]: SORI.address, [PEERS.prosody.domain]: PEERS.prosody.address, [PEERS.ejabberd.domain]: PEERS.ejabberd.address };
    const prosodyHosts = { ...hosts, [CLUSTER.domain]: CLUSTER.addresses[0] };
    const ejabberdHosts = { ...hosts, [CLUSTER.domain]: CLUSTER.addresses[1] };
    writeFileSync(join(dir, 'hosts'), Object.entries(prosodyHosts).map(([n, a]) => `${a} ${n}`).join('\n') + '\n');
    // ejabberd resolves s2s names only through DNS: a responder on its own address, port 5353.
    dns = await startTestDns(PEERS.ejabberd.address, 5353, ejabberdHosts);
    mkdirSync(join(dir, 'prosody'));
    mkdirSync(join(dir, 'ejabberd'));
    const [p, e] = await Promise.all([
      startProsody({ dir: join(dir, 'prosody'), ...PEERS.prosody, cert: certs[PEERS.prosody.domain]!, caFile: join(dir, 'ca.pem'), hostsFile: join(dir, 'hosts') }),
      startEjabberd({ dir: join(dir, 'ejabberd'), ...PEERS.ejabberd, cert: certs[PEERS.ejabberd.domain]!, caFile: join(dir, 'ca.pem'), hosts: ejabberdHosts, nameserver: dns, node: `sori-fed-${process.pid}@localhost` }),
    ]);
    peers.prosody = p;
    peers.ejabberd = e;
    trustTestPort(5222); // the peers' c2s certificates come from the test CA
    for (const peer of [p, e]) for (const mode of ['x', 'd', 'c']) await peer.register(`${mode}user`, PASSWORD);
  });

  after(async function () {
    this.timeout(60_000);
    await Promise.all(Object.values(peers).map((p) => p.stop()));
    await dns?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const mode of ['SASL EXTERNAL', 'dialback'] as const) {
    describe(`authenticated by ${mode}`, () => {
      const m = mode === 'dialback' ? 'd' : 'x';
      const method = mode === 'dialback' ? 'dialback' : 'external';
      let sori: Sori;
      let c2sPort: number;

      before(async function () {
        this.timeout(60_000);
        c2sPort = await freePort(SORI.address);
        const cert = mode === 'dialback' ? 'self' : SORI.domain;
        const dataDir = join(dir, `sori-${m}`);
        mkdirSync(dataDir);
        const config = loadConfig({
          env: {},
          overrides: {
            server: { hosts: [SORI.domain], bind: SORI.address, dataDir, logLevel: 'warn' },
            c2s: { port: c2sPort, directTlsPort: 0 },
            websocket: { port: 0, tlsPort: 0 },
            storage: { backend: 'memory' },
            tls: { cert: join(dir, `${cert}.crt`), key: join(dir, `${cert}.key`) },
            s2s: {
              enabled: true,
              port: 5269,
              hosts: { [PEERS.prosody.domain]: `${PEERS.prosody.address}:5269`, [PEERS.ejabberd.domain]: `${PEERS.ejabberd.address}:5269` },
              ca: mode === 'dialback' ? [] : [join(dir, 'ca.pem')],
              connectTimeoutSeconds: 20,
            },
          },
        });
        sori = await startSori(config);
        trustTestPort(c2sPort);
        for (const peer of Object.keys(PEERS)) await sori.server.accounts.create(parseJid(`${m}${peer}@${SORI.domain}`), PASSWORD);
      });

      after(async () => {
        await sori?.stop();
      });

      for (const peerName of Object.keys(PEERS) as PeerName[]) {
        describe(`with ${peerName}`, () => {
          const peerDomain = PEERS[peerName].domain;
          const soriUser = `${m}${peerName}@${SORI.domain}`;
          const peerUser = `${m}user@${peerDomain}`;
          let romeo: XmppSession; // on sori
          let juliet: XmppSession; // on the peer

          before(async () => {
            romeo = await connectTcp({ host: SORI.address, port: c2sPort, domain: SORI.domain }, { username: soriUser.split('@')[0]!, password: PASSWORD, resource: 'r' });
            const peer = peers[peerName]!;
            juliet = await connectTcp({ host: peer.address, port: peer.c2sPort, domain: peerDomain }, { username: `${m}user`, password: PASSWORD, resource: 'j' });
            // Both fetch the roster first: subscription state changes go to "interested" resources only (RFC 6121 §2.1.6).
            await romeo.xmpp.iqCaller.get(xml('query', { xmlns: 'jabber:iq:roster' }), undefined, 10_000);
            await juliet.xmpp.iqCaller.get(xml('query', { xmlns: 'jabber:iq:roster' }), undefined, 10_000);
            await romeo.xmpp.send(xml('presence', {}, xml('status', {}, 'romeo online')));
            await juliet.xmpp.send(xml('presence', {}, xml('status', {}, 'juliet online')));
          });

          after(async () => {
            await romeo?.stop();
            await juliet?.stop();
          });

          const failWithLogs = async (what: () => Promise<void>): Promise<void> => {
            try {
              await what();
            } catch (e) {
              const log = peers[peerName]!.log();
              (e as Error).message += `\n--- ${peerName} log (tail) ---\n${log.slice(-4000)}`;
              throw e;
            }
          };

          it(`sori → ${peerName}: subscription request, approval, and the contact's presence`, () =>
            failWithLogs(async () => {
              await romeo.xmpp.send(xml('presence', { to: peerUser, type: 'subscribe' }));
              await juliet.waitFor(isPresence(soriUser, 'subscribe'), 30_000, `subscribe from ${soriUser}`);
              await juliet.xmpp.send(xml('presence', { to: soriUser, type: 'subscribed' }));
              await romeo.waitFor(isPresence(peerUser, 'subscribed'), 30_000, `subscribed from ${peerUser}`);
              const p = await romeo.waitFor(isPresence(peerUser), 30_000, `available presence of ${peerUser}`);
              expect(p.attrs.from).to.equal(`${peerUser}/j`);
            }));

          it(`${peerName} → sori: subscription request, approval, and the contact's presence`, () =>
            failWithLogs(async () => {
              await juliet.xmpp.send(xml('presence', { to: soriUser, type: 'subscribe' }));
              await romeo.waitFor(isPresence(peerUser, 'subscribe'), 30_000, `subscribe from ${peerUser}`);
              await romeo.xmpp.send(xml('presence', { to: peerUser, type: 'subscribed' }));
              await juliet.waitFor(isPresence(soriUser, 'subscribed'), 30_000, `subscribed from ${soriUser}`);
              const p = await juliet.waitFor(isPresence(soriUser), 30_000, `available presence of ${soriUser}`);
              expect(p.attrs.from).to.equal(`${soriUser}/r`);
            }));

          it('presence changes are seen both ways', () =>
            failWithLogs(async () => {
              await romeo.xmpp.send(xml('presence', {}, xml('show', {}, 'away'), xml('status', {}, `romeo-${m}-away`)));
              const atJuliet = await juliet.waitFor((el) => isPresence(soriUser)(el) && el.getChildText('status') === `romeo-${m}-away`, 30_000, 'romeo away');
              expect(atJuliet.getChildText('show')).to.equal('away');
              await juliet.xmpp.send(xml('presence', {}, xml('show', {}, 'dnd'), xml('status', {}, `juliet-${m}-dnd`)));
              const atRomeo = await romeo.waitFor((el) => isPresence(peerUser)(el) && el.getChildText('status') === `juliet-${m}-dnd`, 30_000, 'juliet dnd');
              expect(atRomeo.getChildText('show')).to.equal('dnd');
            }));

          it('chat messages are delivered both ways', () =>
            failWithLogs(async () => {
              await romeo.xmpp.send(xml('message', { to: peerUser, type: 'chat', id: `r2j-${m}` }, xml('body', {}, 'Wherefore art thou?')));
              const got = await juliet.waitFor((el) => el.name === 'message' && el.attrs.id === `r2j-${m}`, 30_000, 'message from romeo');
              expect(got.attrs.from).to.equal(`${soriUser}/r`);
              expect(got.getChildText('body')).to.equal('Wherefore art thou?');
              await juliet.xmpp.send(xml('message', { to: `${soriUser}/r`, type: 'chat', id: `j2r-${m}` }, xml('body', {}, 'Here, on the balcony.')));
              const back = await romeo.waitFor((el) => el.name === 'message' && el.attrs.id === `j2r-${m}`, 30_000, 'message from juliet');
              expect(back.attrs.from).to.equal(`${peerUser}/j`);
              expect(back.getChildText('body')).to.equal('Here, on the balcony.');
            }));

          it('disco#info of the remote server works both ways', () =>
            failWithLogs(async () => {
              const theirs = await romeo.xmpp.iqCaller.request(xml('iq', { type: 'get', to: peerDomain, id: `disco-${m}-1` }, xml('query', { xmlns: DISCO_INFO })), 30_000);
              expect(theirs.attrs.from).to.equal(peerDomain);
              expect(theirs.getChild('query', DISCO_INFO)!.getChild('identity')!.attrs.category).to.equal('server');
              const ours = await juliet.xmpp.iqCaller.request(xml('iq', { type: 'get', to: SORI.domain, id: `disco-${m}-2` }, xml('query', { xmlns: DISCO_INFO })), 30_000);
              expect(ours.attrs.from).to.equal(SORI.domain);
              expect(ours.getChild('query', DISCO_INFO)!.getChild('identity')!.attrs.category).to.equal('server');
            }));

          it('a message to a user that does not exist comes back as an error, both ways', () =>
            failWithLogs(async () => {
              await romeo.xmpp.send(xml('message', { to: `nobody@${peerDomain}`, type: 'chat', id: `lost-${m}-1` }, xml('body', {}, 'hello?')));
              const e1 = await romeo.waitFor((el) => el.name === 'message' && el.attrs.id === `lost-${m}-1`, 30_000, 'error from the peer');
              expect(e1.attrs.type).to.equal('error');
              expect(e1.attrs.from).to.equal(`nobody@${peerDomain}`);
              expect(e1.getChild('error')!.getChild('service-unavailable', 'urn:ietf:params:xml:ns:xmpp-stanzas')).to.not.equal(undefined);
              await juliet.xmpp.send(xml('message', { to: `nobody@${SORI.domain}`, type: 'chat', id: `lost-${m}-2` }, xml('body', {}, 'hello?')));
              const e2 = await juliet.waitFor((el) => el.name === 'message' && el.attrs.id === `lost-${m}-2`, 30_000, 'error from sori');
              expect(e2.attrs.type).to.equal('error');
              expect(e2.attrs.from).to.equal(`nobody@${SORI.domain}`);
              expect(e2.getChild('error')!.getChild('service-unavailable', 'urn:ietf:params:xml:ns:xmpp-stanzas')).to.not.equal(undefined);
            }));

          it(`a ${peerName} user joins a room on sori's MUC service, and both talk in it; the service's stream piggybacks on sori.test's`, () =>
            failWithLogs(async () => {
              const room = `${m}room-${peerName}@conference.${SORI.domain}`;
              // sori.test's own stream to the peer exists first, so the service can ride on it.
              await romeo.xmpp.send(xml('message', { to: peerUser, type: 'chat', id: `pre-muc-${m}` }, xml('body', {}, 'see you in the room')));
              await juliet.waitFor((el) => el.name === 'message' && el.attrs.id === `pre-muc-${m}`, 30_000, 'message from romeo');
              await romeo.xmpp.send(xml('presence', { to: `${room}/romeo` }, xml('x', { xmlns: NS_MUC })));
              await romeo.waitFor(isOccupant(`${room}/romeo`, true), 30_000, 'romeo in the new room');
              await romeo.xmpp.iqCaller.request(xml('iq', { type: 'set', to: room }, xml('query', { xmlns: NS_MUC_OWNER }, xml('x', { xmlns: 'jabber:x:data', type: 'submit' }))), 30_000);
              await juliet.xmpp.send(xml('presence', { to: `${room}/juliet` }, xml('x', { xmlns: NS_MUC })));
              await juliet.waitFor(isOccupant(`${room}/romeo`), 30_000, 'the occupant list, with romeo');
              await juliet.waitFor(isOccupant(`${room}/juliet`, true), 30_000, 'juliet\'s own presence from the room');
              await romeo.waitFor(isOccupant(`${room}/juliet`), 30_000, 'juliet joining, seen by romeo');
              await romeo.xmpp.send(xml('message', { to: room, type: 'groupchat', id: `g1-${m}` }, xml('body', {}, 'Welcome, juliet')));
              const atJuliet = await juliet.waitFor((el) => el.name === 'message' && el.attrs.type === 'groupchat' && el.getChildText('body') === 'Welcome, juliet', 30_000, 'romeo\'s groupchat message');
              expect(atJuliet.attrs.from).to.equal(`${room}/romeo`);
              await juliet.xmpp.send(xml('message', { to: room, type: 'groupchat', id: `g2-${m}` }, xml('body', {}, 'Thank you, romeo')));
              const atRomeo = await romeo.waitFor((el) => el.name === 'message' && el.attrs.type === 'groupchat' && el.getChildText('body') === 'Thank you, romeo', 30_000, 'juliet\'s groupchat message');
              expect(atRomeo.attrs.from).to.equal(`${room}/juliet`);
              // The service's pair rode on sori.test's stream (XEP-0220 piggybacking) instead of opening its own.
              const pairs = sori.s2s!.streams().outbound.filter((o) => o.remote === peerDomain).map((o) => [o.local, o.ready, o.piggybacked]);
              expect(pairs).to.have.deep.members([[SORI.domain, true, false], [`conference.${SORI.domain}`, true, true]]);
            }));

          it(`both directions authenticated with ${mode}`, () => {
            expect(sori.s2s!.lastMethod('outbound', SORI.domain, peerDomain), `sori → ${peerName}`).to.equal(method);
            expect(sori.s2s!.lastMethod('inbound', SORI.domain, peerDomain), `${peerName} → sori`).to.equal(method);
          });
        });
      }

      if (mode === 'SASL EXTERNAL') {
        it('refuses a stanza whose from domain the stream did not authenticate (invalid-from)', async () => {
          const raw = await RawS2s.authenticated({ host: SORI.address, port: 5269, from: 'evil.test', to: SORI.domain, cert: certs['evil.test']! });
          raw.write(`<message from='juliet@prosody.test/x' to='xprosody@sori.test' type='chat' id='spoof'><body>trust me</body></message>`);
          await raw.until(/<invalid-from xmlns=["']urn:ietf:params:xml:ns:xmpp-streams["']/);
          await raw.until(/<\/stream:stream>/);
          raw.close();
          expect(sori.s2s!.stats.refused['invalid-from']).to.be.at.least(1);
        });

        it('refuses a stanza to a domain it does not serve (host-unknown) and one without addresses (improper-addressing)', async () => {
          const a = await RawS2s.authenticated({ host: SORI.address, port: 5269, from: 'evil.test', to: SORI.domain, cert: certs['evil.test']! });
          a.write(`<message from='mallory@evil.test' to='someone@prosody.test' type='chat'><body>relay me</body></message>`);
          await a.until(/<host-unknown xmlns=["']urn:ietf:params:xml:ns:xmpp-streams["']/);
          a.close();
          const b = await RawS2s.authenticated({ host: SORI.address, port: 5269, from: 'evil.test', to: SORI.domain, cert: certs['evil.test']! });
          b.write(`<message to='xprosody@sori.test' type='chat'><body>who am I</body></message>`);
          await b.until(/<improper-addressing xmlns=["']urn:ietf:params:xml:ns:xmpp-streams["']/);
          b.close();
        });
      }
    });
  }
  describe('in a cluster: two sori nodes on one Redis, dialback', () => {
    // Prosody's streams to the cluster reach node A, ejabberd's reach node B
    // (see CLUSTER). The user on the other node is "far": what the peer sends
    // them crosses the node bus, and their replies leave through their own
    // node's outbound stream, whose dialback key the peer verifies at the node
    // it resolves, which holds the same s2s.dialbackSecret.
    const nodes: Sori[] = [];
    const c2sPorts: number[] = [];
    const secret = 'cluster-dialback-secret';
    const nodeOf = { prosody: 0, ejabberd: 1 } as const; // the node each peer connects to

    before(async function () {
      this.timeout(60_000);
      const redis = await redisService();
      const store = new MemoryStore();
      for (const [i, address] of CLUSTER.addresses.entries()) {
        const port = await freePort(address);
        const dataDir = join(dir, `sori-cluster-${i}`);
        mkdirSync(dataDir);
        const config = loadConfig({
          env: {},
          overrides: {
            server: { hosts: [CLUSTER.domain], bind: address, dataDir, logLevel: 'warn', nodeId: `fed-${i}` },
            c2s: { port, directTlsPort: 0 },
            websocket: { port: 0, tlsPort: 0 },
            storage: { backend: 'memory' },
            tls: { cert: join(dir, 'cluster.crt'), key: join(dir, 'cluster.key') },
            cluster: { redis: [redis.url] },
            s2s: {
              enabled: true,
              port: 5269,
              hosts: { [PEERS.prosody.domain]: `${PEERS.prosody.address}:5269`, [PEERS.ejabberd.domain]: `${PEERS.ejabberd.address}:5269` },
              ca: [],
              dialbackSecret: secret,
              connectTimeoutSeconds: 20,
            },
          },
        });
        nodes.push(await startSori(config, { store }));
        c2sPorts.push(port);
        trustTestPort(port);
      }
      for (const peer of Object.keys(PEERS)) for (const i of [0, 1]) await nodes[0]!.server.accounts.create(parseJid(`c${peer}${i}@${CLUSTER.domain}`), PASSWORD);
    });

    after(async () => {
      for (const n of nodes) await n.stop();
    });

    for (const peerName of Object.keys(PEERS) as PeerName[]) {
      describe(`with ${peerName}`, () => {
        const peerDomain = PEERS[peerName].domain;
        const peerUser = `cuser@${peerDomain}`;
        const near = nodeOf[peerName];
        const far = 1 - near;
        const userOn = (i: number) => `c${peerName}${i}@${CLUSTER.domain}`;
        const romeos: XmppSession[] = []; // romeos[i] on node i
        let juliet: XmppSession;

        before(async () => {
          for (const i of [0, 1]) {
            const r = await connectTcp({ host: CLUSTER.addresses[i]!, port: c2sPorts[i]!, domain: CLUSTER.domain }, { username: userOn(i).split('@')[0]!, password: PASSWORD, resource: 'r' });
            await r.xmpp.iqCaller.get(xml('query', { xmlns: 'jabber:iq:roster' }), undefined, 10_000);
            await r.xmpp.send(xml('presence'));
            romeos.push(r);
          }
          const peer = peers[peerName]!;
          juliet = await connectTcp({ host: peer.address, port: peer.c2sPort, domain: peerDomain }, { username: 'cuser', password: PASSWORD, resource: 'j' });
          await juliet.xmpp.iqCaller.get(xml('query', { xmlns: 'jabber:iq:roster' }), undefined, 10_000);
          await juliet.xmpp.send(xml('presence'));
        });

        after(async () => {
          for (const r of romeos) await r.stop();
          await juliet?.stop();
        });

        it(`both nodes send to ${peerName} over their own streams, and its replies reach users on either node`, async () => {
          for (const i of [0, 1]) {
            await romeos[i]!.xmpp.send(xml('message', { to: peerUser, type: 'chat', id: `c-out-${i}` }, xml('body', {}, `from node ${i}`)));
            const got = await juliet.waitFor((el) => el.name === 'message' && el.attrs.id === `c-out-${i}`, 30_000, `message from the user on node ${i}`);
            expect(got.attrs.from).to.equal(`${userOn(i)}/r`);
            await juliet.xmpp.send(xml('message', { to: `${userOn(i)}/r`, type: 'chat', id: `c-in-${i}` }, xml('body', {}, `to node ${i}`)));
            const back = await romeos[i]!.waitFor((el) => el.name === 'message' && el.attrs.id === `c-in-${i}`, 30_000, `reply to the user on node ${i}`);
            expect(back.attrs.from).to.equal(`${peerUser}/j`);
          }
          for (const i of [0, 1]) expect(nodes[i]!.s2s!.lastMethod('outbound', CLUSTER.domain, peerDomain), `node ${i} → ${peerName}`).to.equal('dialback');
          expect(nodes[near]!.s2s!.lastMethod('inbound', CLUSTER.domain, peerDomain), `${peerName} → node ${near}`).to.equal('dialback');
          expect(nodes[far]!.s2s!.lastMethod('inbound', CLUSTER.domain, peerDomain), `${peerName} never connects to node ${far}`).to.equal(null);
        });

        it('subscription and presence work for the user on the node the peer does not connect to', async () => {
          const romeo = romeos[far]!;
          await romeo.xmpp.send(xml('presence', { to: peerUser, type: 'subscribe' }));
          await juliet.waitFor(isPresence(userOn(far), 'subscribe'), 30_000, `subscribe from ${userOn(far)}`);
          await juliet.xmpp.send(xml('presence', { to: userOn(far), type: 'subscribed' }));
          await romeo.waitFor(isPresence(peerUser, 'subscribed'), 30_000, `subscribed from ${peerUser}`);
          const p = await romeo.waitFor(isPresence(peerUser), 30_000, `available presence of ${peerUser}`);
          expect(p.attrs.from).to.equal(`${peerUser}/j`);
        });

        it('keeps the order of one sender\'s messages in both directions across the cluster', async () => {
          const romeo = romeos[far]!;
          const count = 100;
          const seen = (who: XmppSession, prefix: string): string[] => who.received.filter((el) => el.name === 'message' && String(el.attrs.id ?? '').startsWith(prefix)).map((el) => el.attrs.id as string);
          for (let n = 0; n < count; n++) void romeo.xmpp.send(xml('message', { to: peerUser, type: 'chat', id: `ord-out-${n}` }, xml('body', {}, String(n))));
          await juliet.waitFor((el) => el.name === 'message' && el.attrs.id === `ord-out-${count - 1}`, 60_000, 'the last of the outbound burst');
          expect(seen(juliet, 'ord-out-')).to.deep.equal(Array.from({ length: count }, (_, n) => `ord-out-${n}`));
          for (let n = 0; n < count; n++) void juliet.xmpp.send(xml('message', { to: `${userOn(far)}/r`, type: 'chat', id: `ord-in-${n}` }, xml('body', {}, String(n))));
          await romeo.waitFor((el) => el.name === 'message' && el.attrs.id === `ord-in-${count - 1}`, 60_000, 'the last of the inbound burst');
          expect(seen(romeo, 'ord-in-')).to.deep.equal(Array.from({ length: count }, (_, n) => `ord-in-${n}`));
        });
      });
    }
  });
});
