import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { eventually } from '../../../testing/eventually.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import offline from '../xep-0160-offline/index.js';
import carbons, { NS_CARBONS } from '../xep-0280-carbons/index.js';
import mam, { NS_MAM } from '../xep-0313-mam/index.js';
import sm, { NS_SM } from './index.js';

const isChat = (body: string) => (el: XmlElement) => el.name === 'message' && el.getChildText('body') === body;
const chat = (to: string, body: string, extra = '') => `<message to='${to}' type='chat'><body>${body}</body>${extra}</message>`;

/**
 * When a session ends with messages it never acknowledged, what the user's
 * next login gets from offline storage: each scenario sends first the
 * message that must not come back and last one that must, and the session
 * is ended without acknowledging either.
 */
describe('XEP-0198 unacknowledged messages and the user\'s other devices', () => {
  let ts: TestServer;
  beforeEach(async () => {
    ts = await TestServer.start([roster, presence, sm, offline, carbons, mam], { modules: { options: { sm: { resumeTimeoutSeconds: 0.2 } } } });
  });
  afterEach(() => ts.stop());

  async function device(full: string, opts: { sm?: 'resume' | 'plain'; priority?: number } = {}): Promise<TestClient> {
    const c = await ts.login(full);
    await c.send(opts.priority === undefined ? '<presence/>' : `<presence><priority>${opts.priority}</priority></presence>`);
    if (opts.sm !== undefined) {
      await c.send(`<enable xmlns='${NS_SM}'${opts.sm === 'resume' ? " resume='true'" : ''}/>`);
      await c.waitFor((el) => el.name === 'enabled' && el.attrs.xmlns === NS_SM);
    }
    return c;
  }

  /** Breaks `phone`'s connection and waits until its session has ended and `last` is in offline storage. */
  async function phoneDies(phone: TestClient, last: string): Promise<void> {
    const session = phone.session;
    await phone.drop();
    await eventually(async () => {
      expect(session.open).to.equal(false);
      const rows = await ts.store.range('offline', 'bob@localhost');
      expect(rows.some((r) => r.value.includes(`<body>${last}</body>`))).to.equal(true);
    });
  }

  /** The user logs in again on the phone: offline messages are delivered in order, so `last` comes after anything stored before it. */
  async function nextLogin(last: string): Promise<TestClient> {
    const again = await device('bob@localhost/phone');
    await again.waitFor(isChat(last));
    return again;
  }

  it('a message to the bare JID that another session of the account got is not stored offline again', async () => {
    const alice = await device('alice@localhost/a');
    const desktop = await device('bob@localhost/desktop');
    const phone = await device('bob@localhost/phone', { sm: 'resume' });
    await alice.send(chat('bob@localhost', 'to both'));
    await desktop.waitFor(isChat('to both'));
    // Only the phone: the desktop has no carbons.
    await alice.send(chat('bob@localhost/phone', 'to the phone'));
    await phone.waitFor(isChat('to the phone'));
    await phoneDies(phone, 'to the phone'); // hibernates, then times out

    const again = await nextLogin('to the phone');
    expect(again.all(isChat('to both'))).to.have.length(0);
    expect(desktop.all(isChat('to both'))).to.have.length(1);
  });

  it('a message to the phone whose carbon another session got is not stored offline; a private one (no carbon) is', async () => {
    const alice = await device('alice@localhost/a');
    const desktop = await device('bob@localhost/desktop');
    await desktop.iq(`<iq type='set'><enable xmlns='${NS_CARBONS}'/></iq>`);
    const phone = await device('bob@localhost/phone', { sm: 'plain' });
    await alice.send(chat('bob@localhost/phone', 'copied'));
    await desktop.waitFor((el) => el.toString().includes('<body>copied</body>'));
    await alice.send(chat('bob@localhost/phone', 'private', `<private xmlns='${NS_CARBONS}'/>`));
    await phone.waitFor(isChat('private'));
    await phoneDies(phone, 'private');

    const again = await nextLogin('private');
    expect(again.all(isChat('copied'))).to.have.length(0);
    expect(desktop.all((el) => el.toString().includes('<body>private</body>'))).to.have.length(0);
  });

  it('an archived message is not stored offline when the session caught up from the archive; one not archived is', async () => {
    const alice = await device('alice@localhost/a');
    const carol = await device('carol@localhost/c');
    const phone = await device('bob@localhost/phone', { sm: 'plain' });
    // Carol's messages stay out of bob's archive.
    await phone.iq(`<iq type='set'><prefs xmlns='${NS_MAM}' default='always'><always/><never><jid>carol@localhost</jid></never></prefs></iq>`);
    expect((await phone.iq(`<iq type='set'><query xmlns='${NS_MAM}' queryid='catch-up'/></iq>`)).attrs.type).to.equal('result');
    await alice.send(chat('bob@localhost/phone', 'archived'));
    await carol.send(chat('bob@localhost/phone', 'not archived'));
    await phone.waitFor(isChat('not archived'));
    await phoneDies(phone, 'not archived');

    const again = await nextLogin('not archived');
    expect(again.all(isChat('archived'))).to.have.length(0);
    // Where the client finds it: its archive.
    await again.iq(`<iq type='set'><query xmlns='${NS_MAM}' queryid='q2'/></iq>`);
    const results = again.all((el) => el.getChild('result', NS_MAM)?.attrs.queryid === 'q2').map((el) => el.toString());
    expect(results.filter((r) => r.includes('<body>archived</body>'))).to.have.length(1);
  });

  it('nothing is lost: a message no other session got, and an archived one the client never caught up on, are stored offline', async () => {
    const alice = await device('alice@localhost/a');
    // Another session of the account, online but taking no bare-JID messages (negative priority) and no carbons.
    const desktop = await device('bob@localhost/desktop', { priority: -1 });
    const phone = await device('bob@localhost/phone', { sm: 'plain' });
    // A query about one contact only is no catch-up.
    await phone.iq(`<iq type='set'><query xmlns='${NS_MAM}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${NS_MAM}</value></field><field var='with'><value>carol@localhost</value></field></x></query></iq>`);
    await alice.send(chat('bob@localhost', 'only the phone'));
    await alice.send(chat('bob@localhost/phone', 'archived, not caught up'));
    await phone.waitFor(isChat('archived, not caught up'));
    await phoneDies(phone, 'archived, not caught up');

    const again = await nextLogin('archived, not caught up');
    expect(again.all(isChat('only the phone'))).to.have.length(1);
    expect(desktop.all(isChat('only the phone'))).to.have.length(0);
  });
});
