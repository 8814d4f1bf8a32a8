import { expect } from 'chai';
import { TestServer } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import { parseXml } from '../../stream/parse-xml.js';
import disco from '../xep-0030-disco/index.js';
import roster from '../rfc6121-roster/index.js';
import externalServices, { NS_EXTDISCO } from './index.js';

const options = (o: Record<string, unknown>) => ({ modules: { options: { 'external-services': o } } });

describe('XEP-0215 external services', () => {
  let ts: TestServer | undefined;
  afterEach(async () => {
    await ts?.stop();
    ts = undefined;
  });

  it('advertises and answers nothing when no service is configured', async () => {
    ts = await TestServer.start([roster, disco, externalServices]);
    const alice = await ts.login('alice@localhost/phone');
    const info = await alice.iq(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(info.getChild('query')!.getChildren('feature').map((f) => f.attrs.var)).to.not.include(NS_EXTDISCO);
    const r = await alice.iq(`<iq type='get' to='localhost'><services xmlns='${NS_EXTDISCO}'/></iq>`);
    expect(r.getChild('error')!.getChild('service-unavailable')).to.not.equal(undefined);
  });

  it('lists the configured servers, filtered by type, TURN with credentials that expire', async () => {
    ts = await TestServer.start([roster, disco, externalServices], options({ services: ['stun:turn.example.org', 'turn:turn.example.org?transport=udp', 'turns:turn.example.org:443?transport=tcp'], turnSecret: 'shared', credentialTtlSeconds: 600 }));
    const alice = await ts.login('alice@localhost/phone');
    const info = await alice.iq(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(info.getChild('query')!.getChildren('feature').map((f) => f.attrs.var)).to.include(NS_EXTDISCO);

    const all = (await alice.iq(`<iq type='get' to='localhost'><services xmlns='${NS_EXTDISCO}'/></iq>`)).getChild('services', NS_EXTDISCO)!.getChildren('service');
    expect(all.map((s) => `${s.attrs.type} ${s.attrs.host}:${s.attrs.port}/${s.attrs.transport}`)).to.deep.equal(['stun turn.example.org:3478/udp', 'turn turn.example.org:3478/udp', 'turns turn.example.org:443/tcp']);
    expect(all[0]!.attrs.username, 'STUN needs no credentials').to.equal(undefined);
    for (const turn of all.slice(1)) {
      expect(turn.attrs.username).to.match(/^\d+:alice@localhost$/);
      expect(turn.attrs.password).to.match(/^[A-Za-z0-9+/]{27}=$/);
      const expires = Date.parse(turn.attrs.expires!);
      expect(expires).to.be.within(Date.now() + 590_000, Date.now() + 610_000);
      expect(Number(turn.attrs.username!.split(':')[0]) * 1000, 'the username carries the same expiry').to.be.within(expires - 1000, expires);
    }

    const turnOnly = (await alice.iq(`<iq type='get' to='localhost'><services xmlns='${NS_EXTDISCO}' type='turns'/></iq>`)).getChild('services', NS_EXTDISCO)!;
    expect(turnOnly.attrs.type).to.equal('turns');
    expect(turnOnly.getChildren('service').map((s) => s.attrs.port)).to.deep.equal(['443']);
  });

  it('gives each account its own credentials, and fresh ones on request only for a TURN server it names', async () => {
    ts = await TestServer.start([roster, disco, externalServices], options({ services: ['stun:turn.example.org', 'turn:turn.example.org'], turnSecret: 'shared' }));
    const alice = await ts.login('alice@localhost/phone');
    const bob = await ts.login('bob@localhost/laptop');
    const ask = `<iq type='get' to='localhost'><credentials xmlns='${NS_EXTDISCO}'><service host='turn.example.org' type='turn'/></credentials></iq>`;
    const forAlice = (await alice.iq(ask)).getChild('credentials', NS_EXTDISCO)!.getChild('service')!;
    const forBob = (await bob.iq(ask)).getChild('credentials', NS_EXTDISCO)!.getChild('service')!;
    expect(forAlice.attrs.username).to.match(/:alice@localhost$/);
    expect(forBob.attrs.username).to.match(/:bob@localhost$/);
    expect(forAlice.attrs.password).to.not.equal(forBob.attrs.password);

    const stun = await alice.iq(`<iq type='get' to='localhost'><credentials xmlns='${NS_EXTDISCO}'><service host='turn.example.org' type='stun'/></credentials></iq>`);
    expect(stun.getChild('error')!.getChild('item-not-found')).to.not.equal(undefined);
    const unnamed = await alice.iq(`<iq type='get' to='localhost'><credentials xmlns='${NS_EXTDISCO}'/></iq>`);
    expect(unnamed.getChild('error')!.getChild('bad-request')).to.not.equal(undefined);
  });

  it('hands no TURN credentials to a user of another server (they let the holder relay through ours)', async () => {
    ts = await TestServer.start([roster, disco, externalServices], options({ services: ['turn:turn.example.org'], turnSecret: 'shared' }));
    const outbound: XmlElement[] = [];
    ts.server.hooks.add('route/remote', ({ stanza }) => (outbound.push(stanza), true));
    await ts.server.route(parseXml(`<iq type='get' id='x1' from='eve@remote.example/laptop' to='localhost'><services xmlns='${NS_EXTDISCO}'/></iq>`));
    await ts.server.route(parseXml(`<iq type='get' id='x2' from='eve@remote.example/laptop' to='localhost'><credentials xmlns='${NS_EXTDISCO}'><service host='turn.example.org' type='turn'/></credentials></iq>`));
    expect(outbound.map((r) => `${r.attrs.id} ${r.attrs.type} ${r.getChild('error')?.elements()[0]?.name}`)).to.deep.equal(['x1 error forbidden', 'x2 error forbidden']);
    expect(outbound.some((r) => r.toString().includes('password'))).to.equal(false);
  });

  it('refuses to start on a service that is not a STUN/TURN URI, naming it', async () => {
    let failure: unknown;
    try {
      ts = await TestServer.start([roster, disco, externalServices], options({ services: ['stun:ok.example.org', 'turn://bad'] }));
    } catch (e) {
      failure = e;
    }
    expect(String(failure)).to.match(/external-services\.services\[1\]: 'turn:\/\/bad': '\/\/bad' is not a host name/);
  });
});
