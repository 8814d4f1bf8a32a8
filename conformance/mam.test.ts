/**
 * XEP-0313 end to end with independent clients (@xmpp/client over TCP +
 * STARTTLS), on each storage backend: the embedded LevelDB store, DynamoDB
 * Local and a real Cassandra node (both started once per mocha run by
 * src/testing/services; a missing jar fails with the setup script to run).
 * sori runs in-process on ephemeral ports with `storage.backend` set.
 *
 * Scenario: alice and bob exchange 30 messages (and alice sends one to carol);
 * bob pages through his archive forwards and backwards with RSM, filters by
 * contact and by time, and the stanza-id on each message he received is the
 * id of that message in his archive.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadConfig } from '../src/config.js';
import { startSori, type Sori } from '../src/sori.js';
import { cassandraService } from '../src/testing/services/cassandra.js';
import { dynamoLocalService } from '../src/testing/services/dynamodb-local.js';
import { parseJid } from '../src/util/jid.js';
import { connectTcp, trustTestPort, xml, type Element, type XmppSession } from './support/clients.js';

const NS_MAM = 'urn:xmpp:mam:2';
const NS_RSM = 'http://jabber.org/protocol/rsm';
const DOMAIN = 'localhost';

type Backend = 'leveldb' | 'dynamodb' | 'cassandra';

async function storageFor(backend: Backend, dataDir: string): Promise<Record<string, unknown>> {
  const tag = randomBytes(4).toString('hex');
  switch (backend) {
    case 'leveldb':
      return { backend, path: join(dataDir, 'db') };
    case 'dynamodb': {
      const d = await dynamoLocalService();
      return { backend, dynamodb: { endpoint: d.endpoint, region: d.region, credentials: d.credentials, tablePrefix: `mam${tag}_` } };
    }
    case 'cassandra': {
      const c = await cassandraService();
      return { backend, cassandra: { contactPoints: c.contactPoints, localDataCenter: c.localDataCenter, keyspace: `sori_mam_${tag}` } };
    }
  }
}

interface Page {
  bodies: string[];
  ids: string[];
  stamps: string[];
  first?: string;
  last?: string;
  complete: boolean;
}

let qid = 0;

/** One MAM query through @xmpp/client; result messages arrive before the iq result and are read back from the recorder. */
async function mamQuery(s: XmppSession, fields: Record<string, string>, rsm: Element[]): Promise<Page> {
  const queryid = `c${qid++}`;
  const form = Object.keys(fields).length
    ? [xml(
        'x',
        { xmlns: 'jabber:x:data', type: 'submit' },
        xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, NS_MAM)),
        ...Object.entries(fields).map(([k, v]) => xml('field', { var: k }, xml('value', {}, v))),
      )]
    : [];
  // iqCaller.set returns the reply's child named like the request (<query/>); the answer here is <fin/>, so the whole iq is asked for.
  const iq = (await s.xmpp.iqCaller.request(xml('iq', { type: 'set', id: `mam-${queryid}` }, xml('query', { xmlns: NS_MAM, queryid }, ...form, xml('set', { xmlns: NS_RSM }, ...rsm))))) as Element;
  const fin = iq.getChild('fin', NS_MAM);
  if (fin === undefined) throw new Error(`no <fin/> in the query result: ${iq.toString()}`);
  const results = s.received.filter((m) => m.is('message') && m.getChild('result', NS_MAM)?.attrs.queryid === queryid).map((m) => m.getChild('result', NS_MAM)!);
  const set = fin.getChild('set', NS_RSM);
  return {
    bodies: results.map((r) => r.getChild('forwarded')!.getChild('message')!.getChildText('body') ?? ''),
    ids: results.map((r) => r.attrs.id as string),
    stamps: results.map((r) => r.getChild('forwarded')!.getChild('delay')!.attrs.stamp as string),
    first: set?.getChildText('first') ?? undefined,
    last: set?.getChildText('last') ?? undefined,
    complete: fin.attrs.complete === 'true',
  };
}

const max = (n: number) => xml('max', {}, String(n));

for (const backend of ['leveldb', 'dynamodb', 'cassandra'] as const) {
  describe(`XEP-0313 end to end with @xmpp/client on ${backend}`, function () {
    // JVM-backed stores start slowly on a loaded machine (DynamoDB Local: ~50 s, and ~20 s to create every module's tables).
    this.timeout(backend === 'leveldb' ? 90_000 : 300_000);
    let sori: Sori;
    let dataDir: string;
    let alice: XmppSession;
    let bob: XmppSession;
    let carol: XmppSession;
    const sent: string[] = [];
    const stanzaIds = new Map<string, string>();

    before(async () => {
      dataDir = await mkdtemp(join(tmpdir(), `sori-mam-${backend}-`));
      const config = loadConfig({
        env: {},
        overrides: {
          server: { hosts: [DOMAIN], bind: '127.0.0.1', dataDir, logLevel: 'warn' },
          c2s: { directTlsPort: 0, maxLoginFailures: 1000 },
          websocket: { port: 0, tlsPort: 0 },
          storage: await storageFor(backend, dataDir),
        },
      });
      sori = await startSori(config, { ephemeralPorts: true });
      for (const u of ['alice', 'bob', 'carol']) await sori.server.accounts.create(parseJid(`${u}@${DOMAIN}`), `${u}-pw`);
      const port = sori.listening.ports.c2s!;
      trustTestPort(port);
      const at = { host: '127.0.0.1', port, domain: DOMAIN };
      alice = await connectTcp(at, { username: 'alice', password: 'alice-pw', resource: 'a' });
      bob = await connectTcp(at, { username: 'bob', password: 'bob-pw', resource: 'b' });
      carol = await connectTcp(at, { username: 'carol', password: 'carol-pw', resource: 'c' });
      for (const s of [alice, bob, carol]) await s.xmpp.send(xml('presence'));

      // 30 messages, alternating directions, each awaited so that the order is known; then one to carol.
      const tag = randomBytes(3).toString('hex');
      for (let i = 0; i < 30; i++) {
        const [from, to] = i % 2 === 0 ? [alice, bob] : [bob, alice];
        const body = `${tag}-${i}`;
        sent.push(body);
        await from.xmpp.send(xml('message', { type: 'chat', to: to === bob ? `bob@${DOMAIN}` : `alice@${DOMAIN}`, id: body }, xml('body', {}, body)));
        const got = await to.waitFor((m) => m.is('message') && m.getChildText('body') === body, 10_000, `message ${body}`);
        if (to === bob) stanzaIds.set(body, got.getChild('stanza-id', 'urn:xmpp:sid:0')?.attrs.id as string);
      }
      await alice.xmpp.send(xml('message', { type: 'chat', to: `carol@${DOMAIN}` }, xml('body', {}, `${tag}-carol`)));
      await carol.waitFor((m) => m.is('message') && m.getChildText('body') === `${tag}-carol`, 10_000, 'message to carol');
    });

    after(async () => {
      for (const s of [alice, bob, carol]) await s?.stop();
      await sori?.stop();
      await rm(dataDir, { recursive: true, force: true });
    });

    it('advertises urn:xmpp:mam:2 on the account', async () => {
      const info = (await bob.xmpp.iqCaller.get(xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }), `bob@${DOMAIN}`)) as Element;
      const features = info.getChildren('feature').map((f) => f.attrs.var);
      expect(features).to.include.members([NS_MAM, `${NS_MAM}#extended`]);
    });

    it('pages forward through both archives (RSM max/after)', async () => {
      for (const s of [alice, bob]) {
        const seen: string[] = [];
        let after: string | undefined;
        let pages = 0;
        for (;;) {
          const p = await mamQuery(s, { with: s === alice ? `bob@${DOMAIN}` : `alice@${DOMAIN}` }, [max(7), ...(after ? [xml('after', {}, after)] : [])]);
          pages++;
          seen.push(...p.bodies);
          after = p.last;
          if (p.complete) break;
          expect(pages, 'paging did not end').to.be.lessThan(10);
        }
        expect(seen, s.jid).to.deep.equal(sent);
        expect(pages).to.equal(5);
      }
    });

    it('pages backward from the last page (RSM empty before, then before=first)', async () => {
      const pages: string[][] = [];
      let before = '';
      for (;;) {
        const p = await mamQuery(bob, {}, [max(8), xml('before', {}, before)]);
        pages.unshift(p.bodies);
        before = p.first!;
        if (p.complete) break;
        expect(pages.length, 'paging did not end').to.be.lessThan(10);
      }
      expect(pages[pages.length - 1]).to.deep.equal(sent.slice(-8));
      expect(pages.flat()).to.deep.equal(sent);
    });

    it('gives delivered messages the stanza-id of their archive entry', async () => {
      const p = await mamQuery(bob, {}, [max(50)]);
      const received = sent.filter((_, i) => i % 2 === 0);
      for (const body of received) expect(stanzaIds.get(body), body).to.equal(p.ids[p.bodies.indexOf(body)]);
    });

    it('filters by contact', async () => {
      const toCarol = await mamQuery(alice, { with: `carol@${DOMAIN}` }, [max(50)]);
      expect(toCarol.bodies).to.have.length(1);
      expect(toCarol.bodies[0]).to.match(/-carol$/);
      const all = await mamQuery(alice, {}, [max(50)]);
      expect(all.bodies).to.deep.equal([...sent, toCarol.bodies[0]]);
      expect((await mamQuery(bob, { with: `carol@${DOMAIN}` }, [max(50)])).bodies).to.deep.equal([]);
    });

    it('filters by time (start and end inclusive)', async () => {
      const all = await mamQuery(bob, {}, [max(50)]);
      const [start, end] = [all.stamps[10]!, all.stamps[20]!];
      // What the stamps say should match: messages stamped within [start, end].
      const expected = all.bodies.filter((_, i) => all.stamps[i]! >= start && all.stamps[i]! <= end);
      const p = await mamQuery(bob, { start, end }, [max(50)]);
      expect(p.bodies).to.deep.equal(expected);
      expect(p.bodies).to.include.members(sent.slice(10, 21));
      expect(p.complete).to.equal(true);
    });
  });
}
