import { expect } from 'chai';
import { login, S2sTestEnv } from '../../../testing/s2s-env.js';
import { freePort } from '../../../testing/services/child-process.js';
import type { XmlElement } from '../../../util/xml.js';
import { NS_PUBSUB, NS_PUBSUB_EVENT, NS_PUBSUB_OWNER } from '../xep-0163-pep/protocol.js';

const SERVICE = 'pubsub.a.test';
const isEvent = (e: XmlElement) => e.name === 'message' && e.attrs.from === SERVICE && e.getChild('event', NS_PUBSUB_EVENT) !== undefined;

describe('XEP-0060 pubsub service over federation', function () {
  this.timeout(60_000);
  const env = new S2sTestEnv();
  afterEach(() => env.stop());
  after(() => env.dispose());

  it("lets another server's user subscribe to an open node and get what is published, and not create nodes", async () => {
    const [aPort, bPort] = [await freePort(), await freePort()];
    const a = await env.start('a.test', { port: aPort, hosts: { 'b.test': `127.0.0.1:${bPort}` } });
    const b = await env.start('b.test', { port: bPort, hosts: { 'a.test': `127.0.0.1:${aPort}`, [SERVICE]: `127.0.0.1:${aPort}` } });
    const alice = await login(a, 'alice@a.test/r');
    const bob = await login(b, 'bob@b.test/r');
    await bob.send('<presence/>');
    // The streams between the two servers are up before the first request, which has 2 s for its answer.
    await alice.send(`<message to='bob@b.test/r' type='chat' id='warm'><body>hi</body></message>`);
    await bob.waitFor((st) => st.attrs.id === 'warm', 10_000);
    const set = (body: string, ns = NS_PUBSUB) => `<iq type='set' to='${SERVICE}'><pubsub xmlns='${ns}'>${body}</pubsub></iq>`;
    expect((await alice.iq(set(`<create node='feed'/>`))).attrs.type).to.equal('result');

    const sub = await bob.iq(set(`<subscribe node='feed' jid='bob@b.test'/>`));
    expect(sub.attrs.type, sub.toString()).to.equal('result');
    expect(sub.attrs.from).to.equal(SERVICE);
    const subs = await alice.iq(`<iq type='get' to='${SERVICE}'><pubsub xmlns='${NS_PUBSUB_OWNER}'><subscriptions node='feed'/></pubsub></iq>`);
    expect(subs.getChild('pubsub')!.getChild('subscriptions')!.getChildren('subscription').map((s) => s.attrs.jid)).to.deep.equal(['bob@b.test']);

    expect((await alice.iq(set(`<publish node='feed'><item id='1'><entry xmlns='urn:test'>over s2s</entry></item></publish>`))).attrs.type).to.equal('result');
    const ev = await bob.waitFor(isEvent, 10_000);
    expect(ev.getChild('event', NS_PUBSUB_EVENT)!.getChild('items')!.getChild('item')!.getChildText('entry')).to.equal('over s2s');

    const create = await bob.iq(set(`<create node='mine'/>`));
    expect(create.getChild('error')?.elements()[0]?.name).to.equal('forbidden');
  });
});
