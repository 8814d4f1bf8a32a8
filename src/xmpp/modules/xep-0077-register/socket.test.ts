import { expect } from 'chai';
import type { Sori } from '../../../sori.js';
import { RawClient } from '../../../testing/raw-client.js';
import { startTestSori } from '../../../testing/test-sori.js';
import { parseJid } from '../../../util/jid.js';

/** In-band registration over a real socket: register, log in with the new account, remove it. */
describe('XEP-0077 over a real c2s stream', function () {
  this.timeout(20000);
  let sori: Sori;
  let port: number;

  before(async () => {
    sori = await startTestSori({ modules: { enabled: ['register'], options: { register: { minSecondsBetweenRegistrations: 0 } } } });
    port = sori.listening.ports.c2s!;
  });
  after(() => sori.stop());

  it('is not offered before STARTTLS, and refuses registration in the clear', async () => {
    const c = await RawClient.connect(port);
    c.open();
    const f = await c.features();
    expect(f.getChild('register')).to.equal(undefined);
    c.write(`<iq type='set' id='clear'><query xmlns='jabber:iq:register'><username>plain</username><password>text</password></query></iq>`);
    const reply = await c.next((e) => e.attrs.id === 'clear');
    expect(reply.getChild('error')!.getChild('not-authorized')).to.not.equal(undefined);
    expect(await sori.server.accounts.exists(parseJid('plain@localhost'))).to.equal(false);
    c.destroy();
  });

  it('registers after STARTTLS, logs in with the new account on the same stream, then removes it', async () => {
    const c = await RawClient.connect(port);
    await c.startTls();
    c.open();
    const f = await c.features();
    expect(f.getChild('register', 'http://jabber.org/features/iq-register')).to.not.equal(undefined);

    c.write(`<iq type='get' id='reg1'><query xmlns='jabber:iq:register'/></iq>`);
    const fields = await c.next((e) => e.attrs.id === 'reg1');
    expect(fields.attrs.type).to.equal('result');
    expect(fields.getChild('query')!.getChild('username')).to.not.equal(undefined);

    c.write(`<iq type='set' id='reg2'><query xmlns='jabber:iq:register'><username>wire</username><password>w1re</password></query></iq>`);
    expect((await c.next((e) => e.attrs.id === 'reg2')).attrs.type).to.equal('result');
    c.write(`<iq type='set' id='reg3'><query xmlns='jabber:iq:register'><username>wire</username><password>other</password></query></iq>`);
    const dup = await c.next((e) => e.attrs.id === 'reg3');
    expect(dup.attrs.type).to.equal('error');
    expect(dup.getChild('error')!.getChild('conflict')).to.not.equal(undefined);

    expect((await c.scram('wire', 'w1re')).name).to.equal('success');
    c.open();
    await c.features();
    c.write(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>`);
    await c.next((e) => e.attrs.id === 'bind');

    c.write(`<iq type='set' id='unreg'><query xmlns='jabber:iq:register'><remove/></query></iq>`);
    expect((await c.next((e) => e.attrs.id === 'unreg')).attrs.type).to.equal('result');
    const err = await c.next((e) => e.name === 'stream:error');
    expect(err.getChild('not-authorized')).to.not.equal(undefined);
    await c.waitClosed();
    expect(await sori.server.accounts.exists(parseJid('wire@localhost'))).to.equal(false);
  });
});
