import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import mam, { NS_MAM } from './index.js';
import { prefsAllow } from './policy.js';

const isChat = (body: string) => (el: XmlElement) => el.name === 'message' && el.getChildText('body') === body;

/** The bodies of `c`'s archive, oldest first. */
async function archivedBodies(c: TestClient): Promise<string[]> {
  const iq = await c.iq(`<iq type='set'><query xmlns='${NS_MAM}' queryid='p'/></iq>`);
  expect(iq.attrs.type).to.equal('result');
  return c
    .all((m) => m.name === 'message' && m.getChild('result', NS_MAM)?.attrs.queryid === 'p')
    .map((m) => m.getChild('result')!.getChild('forwarded')!.getChild('message')!.getChildText('body') ?? '');
}

const listed = (prefs: XmlElement, list: string): string[] => prefs.getChild(list)!.getChildren('jid').map((j) => j.getText());

describe('XEP-0441 preferences with full JIDs (JID matching)', () => {
  let ts: TestServer;
  let alice: TestClient;
  afterEach(() => ts?.stop());

  async function start(): Promise<void> {
    ts = await TestServer.start([roster, presence, mam]);
    alice = await ts.login('alice@localhost/phone');
    await alice.send('<presence/>');
  }

  it('a full JID in <never/> only keeps that resource out, and the list comes back as set', async () => {
    await start();
    const pc = await ts.login('bob@localhost/pc');
    const tablet = await ts.login('bob@localhost/tablet');
    const set = await alice.iq(`<iq type='set'><prefs xmlns='${NS_MAM}' default='always'><always/><never><jid>bob@localhost/pc</jid></never></prefs></iq>`);
    expect(listed(set.getChild('prefs')!, 'never')).to.deep.equal(['bob@localhost/pc']);
    const got = (await alice.iq(`<iq type='get'><prefs xmlns='${NS_MAM}'/></iq>`)).getChild('prefs')!;
    expect(listed(got, 'never')).to.deep.equal(['bob@localhost/pc']);
    await pc.send(`<message type='chat' to='alice@localhost'><body>from-pc</body></message>`);
    await alice.waitFor(isChat('from-pc'));
    await tablet.send(`<message type='chat' to='alice@localhost'><body>from-tablet</body></message>`);
    await alice.waitFor(isChat('from-tablet'));
    expect(await archivedBodies(alice)).to.deep.equal(['from-tablet']);
  });

  it("a full JID in <always/> under default 'never' keeps only that resource; a bare JID in both lists is never", async () => {
    await start();
    const pc = await ts.login('bob@localhost/pc');
    const tablet = await ts.login('bob@localhost/tablet');
    const set = await alice.iq(
      `<iq type='set'><prefs xmlns='${NS_MAM}' default='never'><always><jid>bob@localhost/pc</jid><jid>carol@localhost</jid></always><never><jid>carol@localhost</jid></never></prefs></iq>`,
    );
    expect(listed(set.getChild('prefs')!, 'always')).to.deep.equal(['bob@localhost/pc']);
    await pc.send(`<message type='chat' to='alice@localhost'><body>from-pc</body></message>`);
    await alice.waitFor(isChat('from-pc'));
    await tablet.send(`<message type='chat' to='alice@localhost'><body>from-tablet</body></message>`);
    await alice.waitFor(isChat('from-tablet'));
    expect(await archivedBodies(alice)).to.deep.equal(['from-pc']);
  });

  it("matches the 'to' of a sent message as it is (a message to the bare JID is not one to that resource)", () => {
    const prefs = { default: 'always' as const, always: [], never: ['bob@localhost/pc'] };
    expect(prefsAllow(prefs, 'bob@localhost', 'bob@localhost/pc')).to.equal(false);
    expect(prefsAllow(prefs, 'bob@localhost', 'bob@localhost/tablet')).to.equal(true);
    expect(prefsAllow(prefs, 'bob@localhost', 'bob@localhost')).to.equal(true);
    const bare = { default: 'always' as const, always: [], never: ['bob@localhost'] };
    expect(prefsAllow(bare, 'bob@localhost', 'bob@localhost/tablet')).to.equal(false);
    expect(prefsAllow(bare, 'bob@localhost', 'bob@localhost')).to.equal(false);
  });
});
