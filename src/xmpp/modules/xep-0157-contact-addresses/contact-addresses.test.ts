import { expect } from 'chai';
import { TestServer } from '../../../testing/harness.js';
import disco from '../xep-0030-disco/index.js';
import roster from '../rfc6121-roster/index.js';
import contactAddresses, { SERVERINFO_FORM_TYPE } from './index.js';

const options = (o: Record<string, unknown>) => ({ modules: { options: { 'contact-addresses': o } } });
const DISCO = `<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`;

describe('XEP-0157 contact addresses', () => {
  let ts: TestServer | undefined;
  afterEach(async () => {
    await ts?.stop();
    ts = undefined;
  });

  it("puts the configured addresses in the server's disco#info, as the serverinfo form", async () => {
    ts = await TestServer.start([roster, disco, contactAddresses], options({ abuse: ['mailto:abuse@example.org', 'xmpp:abuse@example.org'], security: ['https://example.org/security'] }));
    const alice = await ts.login('alice@localhost/phone');
    const forms = (await alice.iq(DISCO)).getChild('query')!.getChildren('x', 'jabber:x:data');
    expect(forms).to.have.length(1);
    const fields = new Map(forms[0]!.getChildren('field').map((f) => [f.attrs.var, f.getChildren('value').map((v) => v.getText())]));
    expect(Object.fromEntries(fields)).to.deep.equal({
      FORM_TYPE: [SERVERINFO_FORM_TYPE],
      'abuse-addresses': ['mailto:abuse@example.org', 'xmpp:abuse@example.org'],
      'security-addresses': ['https://example.org/security'],
    });
  });

  it('adds no form when nothing is configured', async () => {
    ts = await TestServer.start([roster, disco, contactAddresses]);
    const alice = await ts.login('alice@localhost/phone');
    expect((await alice.iq(DISCO)).getChild('query')!.getChildren('x', 'jabber:x:data')).to.have.length(0);
  });

  it('refuses to start on an address that is not a URI, naming the key', async () => {
    let failure: unknown;
    try {
      ts = await TestServer.start([roster, disco, contactAddresses], options({ admin: ['admin@example.org'] }));
    } catch (e) {
      failure = e;
    }
    expect(String(failure)).to.include("contact-addresses.admin: 'admin@example.org' is not a URI");
  });
});
