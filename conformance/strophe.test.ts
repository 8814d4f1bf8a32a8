/**
 * sori against Strophe.js, the XMPP library of Converse.js, over BOSH
 * (XEP-0206) and WebSocket (RFC 7395): SCRAM login, bind, messages both ways
 * with an @xmpp/client user on TCP, and a clean logout that the other user
 * hears.
 */
import { expect } from 'chai';
import { $msg, $pres } from 'strophe.js';
import { connectTcp, xml, type XmppSession } from './support/clients.js';
import { startSori, type SoriProcess } from './support/server.js';
import { connectStrophe, recordMessages, type StropheConnection } from './support/strophe.js';
import { eventually } from '../src/testing/eventually.js';

describe('Strophe.js (Converse.js) against sori', function () {
  this.timeout(60_000);
  let server: SoriProcess;
  const tcp: XmppSession[] = [];
  const strophes: StropheConnection[] = [];
  const alice = { username: 'alice', password: 'alice-pw' };

  before(async () => {
    server = await startSori({ users: { 'alice@localhost': alice.password, 'carol@localhost': 'carol-pw' } });
  });
  afterEach(async () => {
    for (const c of strophes.splice(0)) c.disconnect();
    for (const s of tcp.splice(0)) await s.stop();
  });
  after(async () => {
    await server?.stop();
  });

  for (const transport of ['BOSH', 'WebSocket'] as const) {
    it(`logs in over ${transport}, exchanges messages with a TCP client, and logs out`, async () => {
      const url = transport === 'BOSH' ? server.boshUrl : server.wsUrl;
      const a = await connectTcp(server, { ...alice, resource: 'tcp' });
      tcp.push(a);
      await a.xmpp.send(xml('presence'));
      const carol = await connectStrophe(url, 'carol@localhost/converse', 'carol-pw');
      strophes.push(carol);
      expect(carol.jid).to.equal('carol@localhost/converse');
      const inbox = recordMessages(carol);
      carol.send($pres({ to: 'alice@localhost/tcp' }));
      await a.waitFor((el) => el.is('presence') && el.attrs.from === 'carol@localhost/converse', 10_000, `directed presence from Strophe over ${transport}`);

      carol.send($msg({ to: 'alice@localhost/tcp', type: 'chat' }).c('body').t(`from strophe over ${transport}`));
      await a.waitFor((el) => el.is('message') && el.getChildText('body') === `from strophe over ${transport}`, 10_000, 'message from Strophe');
      // Over BOSH this one waits in the request the server holds open.
      await a.xmpp.send(xml('message', { to: 'carol@localhost/converse', type: 'chat' }, xml('body', {}, 'to strophe')));
      await eventually(() => expect(inbox).to.deep.include({ from: 'alice@localhost/tcp', body: 'to strophe' }), 10_000);

      carol.disconnect();
      strophes.pop();
      await a.waitFor((el) => el.is('presence') && el.attrs.from === 'carol@localhost/converse' && el.attrs.type === 'unavailable', 10_000, 'Strophe logging out');
    });
  }
});
