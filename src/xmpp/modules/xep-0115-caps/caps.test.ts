import { expect } from 'chai';
import { TestServer } from '../../../testing/harness.js';
import { x } from '../../../util/xml.js';
import roster from '../rfc6121-roster/index.js';
import disco, { NS_DISCO_INFO } from '../xep-0030-disco/index.js';
import caps from './index.js';
import { capsVer, verificationString } from './ver.js';

const field = (v: string, values: string[], type?: string) => x('field', { var: v, type }, ...values.map((val) => x('value', null, val)));

describe('XEP-0115 caps', () => {
  describe('ver (the XEP\'s own examples)', () => {
    it('§5.2 simple generation example', () => {
      const ids = [{ category: 'client', type: 'pc', name: 'Exodus 0.9.1' }];
      const features = ['http://jabber.org/protocol/disco#info', 'http://jabber.org/protocol/disco#items', 'http://jabber.org/protocol/muc', 'http://jabber.org/protocol/caps'];
      expect(verificationString(ids, features, [])).to.equal(
        'client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<',
      );
      expect(capsVer(ids, features, [])).to.equal('QgayPKawpkPSDYmwT/WM94uAlu0=');
    });

    it('§5.3 complex generation example (xml:lang, non-ASCII, forms)', () => {
      const ids = [
        { category: 'client', type: 'pc', lang: 'en', name: 'Psi 0.11' },
        { category: 'client', type: 'pc', lang: 'el', name: 'Ψ 0.11' },
      ];
      const features = ['http://jabber.org/protocol/caps', 'http://jabber.org/protocol/disco#info', 'http://jabber.org/protocol/disco#items', 'http://jabber.org/protocol/muc'];
      const form = x(
        'x',
        { xmlns: 'jabber:x:data', type: 'result' },
        field('FORM_TYPE', ['urn:xmpp:dataforms:softwareinfo'], 'hidden'),
        field('ip_version', ['ipv6', 'ipv4'], 'text-multi'),
        field('os', ['Mac']),
        field('os_version', ['10.5.1']),
        field('software', ['Psi']),
        field('software_version', ['0.11']),
      );
      expect(verificationString(ids, features, [form])).to.equal(
        'client/pc/el/Ψ 0.11<client/pc/en/Psi 0.11<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<urn:xmpp:dataforms:softwareinfo<ip_version<ipv4<ipv6<os<Mac<os_version<10.5.1<software<Psi<software_version<0.11<',
      );
      expect(capsVer(ids, features, [form])).to.equal('q07IKJEyjvHSyhy//CH0CxmKi8w=');
    });
  });

  describe('on the server', () => {
    let ts: TestServer;
    beforeEach(async () => {
      ts = await TestServer.start([roster, disco, caps]);
    });
    afterEach(() => ts.stop());

    it('offers <c/> in pre- and post-auth stream features', () => {
      const stages = ts.server.registrations.streamFeatures.filter((f) => f.build({ secure: true, transport: 'tcp', host: 'localhost' })?.attrs.xmlns === 'http://jabber.org/protocol/caps').map((f) => f.stage);
      expect(stages.sort()).to.deep.equal(['post-auth', 'pre-auth']);
    });

    it('answers disco#info for node#ver with the hashed info, whose hash matches ver', async () => {
      const built = ts.server.registrations.streamFeatures.filter((f) => f.stage === 'post-auth').map((f) => f.build({ secure: true, transport: 'tcp', host: 'localhost' }));
      const feat = built.find((el) => el?.attrs.xmlns === 'http://jabber.org/protocol/caps')!;
      const { node, ver, hash } = feat.attrs;
      expect(hash).to.equal('sha-1');
      expect(node).to.equal('https://sori.dev');
      const alice = await ts.login('alice@localhost/phone');
      const r = await alice.iq(`<iq type='get' to='localhost'><query xmlns='${NS_DISCO_INFO}' node='${node}#${ver}'/></iq>`);
      expect(r.attrs.type).to.equal('result');
      const q = r.getChild('query')!;
      expect(q.attrs.node).to.equal(`${node}#${ver}`);
      // What a client does to verify: recompute the hash from the answer.
      const ids = q.getChildren('identity').map((i) => ({ category: i.attrs.category!, type: i.attrs.type!, name: i.attrs.name }));
      const features = q.getChildren('feature').map((f) => f.attrs.var!);
      expect(features).to.include('http://jabber.org/protocol/caps');
      expect(capsVer(ids, features, q.getChildren('x'))).to.equal(ver);
      const stale = await alice.iq(`<iq type='get' to='localhost'><query xmlns='${NS_DISCO_INFO}' node='${node}#old='/></iq>`);
      expect(stale.getChild('error')!.getChild('item-not-found')).to.not.equal(undefined);
    });
  });
});
