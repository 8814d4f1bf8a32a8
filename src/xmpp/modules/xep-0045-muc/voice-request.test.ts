import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import { NS_MUC_ADMIN, NS_MUC_OWNER, NS_MUC_USER } from './index.js';
import { joinRoom, startWithRoom } from './test-support.js';

const ROOM = 'room@conference.localhost';
const NS_REQUEST = 'http://jabber.org/protocol/muc#request';

const item = (p: XmlElement) => p.getChild('x', NS_MUC_USER)?.getChild('item')?.attrs ?? {};
const field = (form: XmlElement, name: string) => form.getChildren('field').find((f) => f.attrs.var === name)?.getChildText('value');
const requestVoice = (c: TestClient) =>
  c.send(`<message to='${ROOM}' id='vr'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>${NS_REQUEST}</value></field><field var='muc#role'><value>participant</value></field></x></message>`);

describe('XEP-0045 voice requests (§7.13, §8.6)', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;

  beforeEach(async () => {
    ({ ts, clients: [alice, bob] } = await startWithRoom(ROOM, ['alice@localhost/a', 'bob@localhost/b']));
    const moderated = await alice.iq(
      `<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_moderatedroom'><value>1</value></field></x></query></iq>`,
    );
    expect(moderated.attrs.type, moderated.toString()).to.equal('result');
  });
  afterEach(async () => {
    await ts.stop();
  });

  it("sends a visitor's request to the moderators as a form; the moderator submitting it with allow gives voice", async () => {
    expect(item(await joinRoom(bob, ROOM, 'Bob')).role).to.equal('visitor');
    await requestVoice(bob);
    const asked = await alice.waitFor((m) => m.name === 'message' && m.getChild('x', 'jabber:x:data') !== undefined);
    expect(asked.attrs.from).to.equal(ROOM);
    const form = asked.getChild('x', 'jabber:x:data')!;
    expect(form.attrs.type).to.equal('form');
    expect(field(form, 'FORM_TYPE')).to.equal(NS_REQUEST);
    expect(field(form, 'muc#roomnick')).to.equal('Bob');
    expect(field(form, 'muc#jid')).to.equal('bob@localhost/b');
    expect(field(form, 'muc#request_allow')).to.equal('false');

    const values = (name: string, value: string) => `<field var='${name}'><value>${value}</value></field>`;
    await alice.send(
      `<message to='${ROOM}'><x xmlns='jabber:x:data' type='submit'>${values('FORM_TYPE', NS_REQUEST)}${values('muc#role', 'participant')}${values('muc#jid', 'bob@localhost/b')}${values('muc#roomnick', 'Bob')}${values('muc#request_allow', 'true')}</x></message>`,
    );
    const voiced = await bob.waitFor((p) => p.name === 'presence' && p.attrs.from === `${ROOM}/Bob` && item(p).role === 'participant');
    expect(voiced.getChild('x', NS_MUC_USER)!.getChild('item')!.getChild('actor')?.attrs.nick).to.equal('Alice');
    await bob.send(`<message type='groupchat' to='${ROOM}'><body>thanks</body></message>`);
    await alice.waitFor((m) => m.getChildText('body') === 'thanks');
  });

  it('grants nothing when the moderator declines, and refuses requests from outside the room', async () => {
    await joinRoom(bob, ROOM, 'Bob');
    await requestVoice(bob);
    await alice.waitFor((m) => m.name === 'message' && m.getChild('x', 'jabber:x:data') !== undefined);
    await alice.send(
      `<message to='${ROOM}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>${NS_REQUEST}</value></field><field var='muc#roomnick'><value>Bob</value></field><field var='muc#request_allow'><value>false</value></field></x></message>`,
    );
    // The room answers in order: this list is read after the declined form was handled.
    const visitors = await alice.iq(`<iq type='get' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item role='visitor'/></query></iq>`);
    expect(visitors.getChild('query')!.getChildren('item').map((i) => i.attrs.nick)).to.deep.equal(['Bob']);

    const carol = await ts.login('carol@localhost/c');
    await requestVoice(carol);
    const refused = await carol.waitFor((m) => m.name === 'message' && m.attrs.type === 'error');
    expect(refused.getChild('error')!.elements()[0]!.name).to.equal('not-acceptable');
  });
});
