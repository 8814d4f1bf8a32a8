import { expect } from 'chai';
import { loadConfig } from '../../../config.js';
import { selectModules } from '../../../sori.js';
import { TestServer } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import disco from '../xep-0030-disco/index.js';
import roster from '../rfc6121-roster/index.js';
import contactAddresses from '../xep-0157-contact-addresses/index.js';
import serviceOutage from './index.js';

const options = (o: Record<string, unknown>, more: Record<string, unknown> = {}) => ({ modules: { options: { 'service-outage': o, ...more } } });
const DISCO = `<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`;

/** Every XEP-0128 form of the server's disco#info, as FORM_TYPE → field var → { type, values }. */
async function infoForms(ts: TestServer): Promise<Map<string | undefined, Record<string, { type: string | undefined; values: string[] }>>> {
  const alice = await ts.login('alice@localhost/phone');
  const forms = (await alice.iq(DISCO)).getChild('query')!.getChildren('x', 'jabber:x:data');
  const fields = (form: XmlElement) => Object.fromEntries(form.getChildren('field').map((f) => [f.attrs.var, { type: f.attrs.type, values: f.getChildren('value').map((v) => v.getText()) }]));
  return new Map(forms.map((form) => [fields(form).FORM_TYPE?.values[0], fields(form)]));
}

describe('XEP-0455 service outage status', () => {
  let ts: TestServer | undefined;
  afterEach(async () => {
    await ts?.stop();
    ts = undefined;
  });

  it("puts the status addresses in the server's disco#info, as the urn:xmpp:sos:0 form the XEP registers", async () => {
    ts = await TestServer.start([roster, disco, serviceOutage], options({ addresses: ['https://status.example.org/xmpp.json', 'https://backup.example.net/status.json', 'http://localhost:8080/status.json'] }));
    const forms = await infoForms(ts);
    expect([...forms.keys()]).to.deep.equal(['urn:xmpp:sos:0']);
    expect(forms.get('urn:xmpp:sos:0')).to.deep.equal({
      FORM_TYPE: { type: 'hidden', values: ['urn:xmpp:sos:0'] },
      'external-status-addresses': { type: 'list-multi', values: ['https://status.example.org/xmpp.json', 'https://backup.example.net/status.json', 'http://localhost:8080/status.json'] },
    });
  });

  it('keeps its form apart from the XEP-0157 contact addresses form (XEP-0128: one form per FORM_TYPE)', async () => {
    ts = await TestServer.start([roster, disco, contactAddresses, serviceOutage], options({ addresses: ['https://status.example.org/xmpp.json'] }, { 'contact-addresses': { status: ['https://status.example.org/'] } }));
    const forms = await infoForms(ts);
    expect([...forms.keys()].sort()).to.deep.equal(['http://jabber.org/network/serverinfo', 'urn:xmpp:sos:0']);
    expect(forms.get('urn:xmpp:sos:0')!['external-status-addresses']!.values).to.deep.equal(['https://status.example.org/xmpp.json']);
    expect(forms.get('http://jabber.org/network/serverinfo')!['status-addresses']!.values).to.deep.equal(['https://status.example.org/']);
  });

  it('is loaded by default and advertises nothing while no address is configured', async () => {
    // Through the composition root's selection: an operator's config names the module, which must exist and load by default.
    const overrides = options({ addresses: [] });
    const modules = selectModules(loadConfig({ env: {}, overrides })).filter((m) => ['roster', 'disco', 'service-outage'].includes(m.name));
    expect(modules.map((m) => m.name)).to.include('service-outage');
    ts = await TestServer.start(modules, overrides);
    expect([...(await infoForms(ts)).keys()]).to.deep.equal([]);
  });

  const HTTPS_ONLY = 'must be an https:// URL (http:// only for localhost)';
  for (const [address, why] of [
    ['http://status.example.org/xmpp.json', HTTPS_ONLY],
    ['ftp://status.example.org/xmpp.json', HTTPS_ONLY],
    ['status.example.org/xmpp.json', 'is not a URL (write https://host/path)'],
    ['https://ops:secret@status.example.org/xmpp.json', 'carries a user or password; the status document must be readable without authentication'],
  ] as const) {
    it(`refuses to start on '${address}', naming the option and saying why`, async () => {
      let failure: unknown;
      try {
        ts = await TestServer.start([roster, disco, serviceOutage], options({ addresses: ['https://status.example.org/ok.json', address] }));
      } catch (e) {
        failure = e;
      }
      expect(failure).to.be.an('error').with.property('name', 'ConfigError');
      expect((failure as Error).message).to.equal(`modules.options.service-outage.addresses: '${address}' ${why}`);
    });
  }
});
