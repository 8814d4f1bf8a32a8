import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { TestServer } from '../../../testing/harness.js';
import version from './index.js';

const pkgVersion = (JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('XEP-0092 version', () => {
  let ts: TestServer | undefined;
  afterEach(() => ts?.stop());

  it('answers name and the package.json version, without the OS by default', async () => {
    ts = await TestServer.start([version]);
    const alice = await ts.login('alice@localhost/phone');
    const r = await alice.iq(`<iq type='get' to='localhost'><query xmlns='jabber:iq:version'/></iq>`);
    expect(r.attrs.type).to.equal('result');
    const q = r.getChild('query', 'jabber:iq:version')!;
    expect(q.getChildText('name')).to.equal('sori');
    expect(q.getChildText('version')).to.equal(pkgVersion);
    expect(q.getChild('os')).to.equal(undefined);
  });

  it('includes the OS when configured', async () => {
    ts = await TestServer.start([version], { modules: { options: { version: { showOs: true } } } });
    const alice = await ts.login('alice@localhost/phone');
    const r = await alice.iq(`<iq type='get' to='localhost'><query xmlns='jabber:iq:version'/></iq>`);
    expect(r.getChild('query')!.getChildText('os')).to.be.a('string').and.not.equal('');
  });
});
