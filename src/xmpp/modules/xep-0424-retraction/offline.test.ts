import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { escapeAttr } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import offline from '../xep-0160-offline/index.js';
import { NS_RETRACT } from './index.js';
import { chat, retract } from './test-support.js';
import offlineRetraction from './offline.js';

describe('XEP-0424 message retraction: messages still in offline storage', () => {
  let ts: TestServer;
  let alice: TestClient;
  let carol: TestClient;

  beforeEach(async () => {
    ts = await TestServer.start([roster, presence, offline, offlineRetraction]);
    await ts.addUser('bob@localhost');
    alice = await ts.login('alice@localhost/phone');
    carol = await ts.login('carol@localhost/pc');
  });
  afterEach(() => ts.stop());

  /** Logs bob in and returns what offline storage gave him, in order, once `last` (a body) arrived. */
  async function bobCatchesUp(lastId: string): Promise<{ id: string | undefined; body: string | undefined; retracts: string | undefined }[]> {
    const bob = await ts.login('bob@localhost/pc');
    await bob.send('<presence/>');
    await bob.waitFor((m) => m.name === 'message' && m.attrs.id === lastId);
    return bob.all((m) => m.name === 'message').map((m) => ({ id: m.attrs.id, body: m.getChildText('body'), retracts: m.getChild('retract', NS_RETRACT)?.attrs.id }));
  }

  it("takes the author's retracted message out before the recipient comes online, and still delivers the retraction", async () => {
    await alice.send(chat('bob@localhost', 'sent to the wrong person', 'o-1'));
    await carol.send(chat('bob@localhost', 'carol uses the same id', 'o-1'));
    await alice.send(chat('bob@localhost', 'this one stays', 'o-2'));
    await alice.send(retract('bob@localhost', 'o-1'));
    await alice.send(chat('bob@localhost', 'last', 'o-3'));
    const got = await bobCatchesUp('o-3');
    expect(got.map((m) => m.body)).to.not.include('sent to the wrong person');
    expect(got.map((m) => m.body?.startsWith('/me retracted') ? `retract ${m.retracts}` : m.body)).to.deep.equal(['carol uses the same id', 'this one stays', 'retract o-1', 'last']);
    expect(await ts.store.range('offline', 'bob@localhost')).to.have.length(0);
  });

  it("leaves a message alone when someone other than its author retracts it", async () => {
    await alice.send(chat('bob@localhost', "alice's message", 'o-1'));
    await carol.send(retract('bob@localhost', 'o-1'));
    await alice.send(chat('bob@localhost', 'last', 'o-2'));
    const got = await bobCatchesUp('o-2');
    expect(got.map((m) => m.body)).to.include("alice's message");
    expect(got.filter((m) => m.retracts === 'o-1')).to.have.length(1);
  });

  it('finds the message by its own id when it has no origin id', async () => {
    await alice.send(`<message type='chat' to='bob@localhost' id='plain-1'><body>no origin id</body></message>`);
    await alice.send(retract('bob@localhost', 'plain-1'));
    await alice.send(chat('bob@localhost', 'last', 'o-9'));
    const got = await bobCatchesUp('o-9');
    expect(got.map((m) => m.body)).to.not.include('no origin id');
  });

  it('finds a message whose id has XML special characters (stored escaped, named unescaped)', async () => {
    const id = escapeAttr(`a&b<c>'d"e`);
    await alice.send(chat('bob@localhost', 'odd id', id));
    await alice.send(`<message type='chat' to='bob@localhost' id='${id}'><body>no origin id either</body></message>`);
    await alice.send(retract('bob@localhost', id));
    await alice.send(retract('bob@localhost', id));
    await alice.send(chat('bob@localhost', 'last', 'o-9'));
    const got = await bobCatchesUp('o-9');
    const bodies = got.map((m) => m.body);
    expect(bodies).to.not.include('odd id');
    expect(bodies).to.not.include('no origin id either');
  });
});
