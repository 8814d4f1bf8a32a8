import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { defineModule } from '../../module.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import offline from '../xep-0160-offline/index.js';
import sm from '../xep-0198-sm/index.js';
import carbons from '../xep-0280-carbons/index.js';
import { createPushModule, NS_PUSH, NS_PUBSUB, type PushApi } from './index.js';

let api: PushApi;
const probe = defineModule({ name: 'probe', implements: 'test', depends: ['push'], start(ctx) { api = ctx.use<PushApi>('push'); } });
const isPush = (s: XmlElement) => s.getChild('pubsub', NS_PUBSUB) !== undefined;
const NS_SM = 'urn:xmpp:sm:3';

/**
 * A phone whose network went away without the connection closing (or whose
 * app the OS froze) still looks connected: what is written to it waits
 * unacknowledged. Its push registrations are used once it has not
 * acknowledged a message for push.unackedSeconds, as for a hibernated session.
 */
describe('XEP-0357 push for a connected session that does not acknowledge (XEP-0198)', () => {
  let ts: TestServer;
  let alice: TestClient;
  let appServer: TestClient;
  let phone: TestClient;
  let desk: TestClient;
  const nodes = () => appServer.all(isPush).map((p) => p.getChild('pubsub')!.getChild('publish')!.attrs.node);
  const quietFor = (ms: number) => new Promise((r) => setTimeout(r, ms));

  beforeEach(async () => {
    ts = await TestServer.start([roster, presence, offline, sm, carbons, createPushModule(), probe], {
      modules: { options: { sm: { requestAckEvery: 1000 }, push: { unackedSeconds: 0.2, publishTimeoutMs: 100 } } },
    });
    alice = await ts.login('alice@localhost/pc');
    appServer = await ts.login('appserver@localhost/srv');
    phone = await ts.login('bob@localhost/phone');
    desk = await ts.login('bob@localhost/desk');
    for (const c of [phone, desk]) await c.send('<presence/>');
    await phone.iq(`<iq type='set'><enable xmlns='${NS_PUSH}' jid='appserver@localhost/srv' node='phone-node'/></iq>`);
    await desk.iq(`<iq type='set'><enable xmlns='${NS_PUSH}' jid='appserver@localhost/srv' node='desk-node'/></iq>`);
    await phone.iq(`<iq type='set'><enable xmlns='urn:xmpp:carbons:2'/></iq>`);
    await phone.send(`<enable xmlns='${NS_SM}' resume='true'/>`);
  });
  afterEach(() => ts.stop());

  // Without MAM a message with no id has no key of its own: stream management's requeued copy (with a <delay/>) must still count as pushed.
  for (const [what, id] of [['a message', (n: string) => ` id='${n}'`], ['a message without an id (no MAM)', () => '']] as const) {
    it(`pushes the phone, once, for ${what} it has not acknowledged in time and for a received carbon, not again when the session ends`, async () => {
      await alice.send(`<message type='chat'${id('u1')} to='bob@localhost'><body>are you there?</body></message>`);
      await phone.waitFor((s) => s.getChildText('body') === 'are you there?');
      await appServer.waitFor(isPush);
      await alice.send(`<message type='chat'${id('u2')} to='bob@localhost/desk'><body>to the desk</body></message>`);
      await appServer.waitFor((s) => isPush(s) && appServer.all(isPush).length === 2);
      await quietFor(400);
      await api.idle();
      // The desk is connected and has no stream management: it was not pushed.
      expect(nodes()).to.deep.equal(['phone-node', 'phone-node']);
      // The session ends unacknowledged: its messages go offline, without another push.
      phone.session.close();
      await api.idle();
      expect(nodes()).to.have.length(2);
    });
  }

  it('does not push a phone that acknowledges in time', async () => {
    await alice.send(`<message type='chat' id='a1' to='bob@localhost/phone'><body>hello</body></message>`);
    await phone.waitFor((s) => s.attrs.id === 'a1');
    await phone.send(`<a xmlns='${NS_SM}' h='1'/>`);
    await quietFor(400);
    await api.idle();
    expect(nodes()).to.deep.equal([]);
  });
});
