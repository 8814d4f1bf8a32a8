import { expect } from 'chai';
import { TestServer } from '../../../testing/harness.js';
import { Table } from '../../../storage/wide-column.js';
import { RosterStore } from '../rfc6121-roster/store.js';
import type { XmlElement } from '../../../util/xml.js';
import roster from '../rfc6121-roster/index.js';
import presence from './index.js';

const fromWithShow = (from: string, show: string | undefined) => (e: XmlElement) =>
  e.name === 'presence' && e.attrs.from === from && e.attrs.type === undefined && e.getChildText('show') === show;

/**
 * RFC 6121 §4.2.2 and §4.4.2: initial and later presence go to all of the user's available
 * resources, the one that sent it included ("an entity is implicitly subscribed to its own presence").
 */
describe('RFC 6121 §4.2.2, §4.4.2 presence broadcast to the user\'s own resources', () => {
  let ts: TestServer;
  beforeEach(async () => {
    ts = await TestServer.start([roster, presence]);
  });
  afterEach(() => ts.stop());

  for (const [what, stanza, show] of [
    ['initial presence', '<presence/>', undefined],
    ['a later presence', '<presence><show>away</show></presence>', 'away'],
  ] as const) {
    it(`${what} reaches the sending resource and the user's other available resources`, async () => {
      const laptop = await ts.login('alice@localhost/laptop');
      await laptop.send('<presence><show>dnd</show></presence>');
      const phone = await ts.login('alice@localhost/phone');
      if (what === 'a later presence') await phone.send('<presence/>');
      phone.clear();
      laptop.clear();
      await phone.send(stanza);
      for (const c of [phone, laptop]) {
        const got = c.all(fromWithShow('alice@localhost/phone', show));
        expect(got.map((e) => e.attrs.to), c.jid).to.deep.equal([c.jid]);
      }
    });
  }

  for (const state of ['never sent presence', 'sent unavailable'] as const) {
    it(`a resource that ${state} gets no presence, and is not announced in answers to probes (§4.2.2, §4.3.2)`, async () => {
      const rosters = new RosterStore(new Table(ts.store, 'roster'), new Table(ts.store, 'roster_meta'), new Table(ts.store, 'roster_pending'));
      await rosters.put('alice@localhost', { jid: 'bob@localhost', subscription: 'both', groups: [] });
      await rosters.put('bob@localhost', { jid: 'alice@localhost', subscription: 'both', groups: [] });
      await ts.addUser('bob@localhost');
      const quiet = await ts.login('alice@localhost/quiet');
      await quiet.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
      if (state === 'sent unavailable') {
        await quiet.send('<presence/>');
        await quiet.send("<presence type='unavailable'/>");
      }
      quiet.clear();
      const phone = await ts.login('alice@localhost/phone');
      await phone.send('<presence/>');
      const bob = await ts.login('bob@localhost/b');
      await bob.send('<presence/>'); // probes Alice: her phone answers, the quiet resource does not
      await bob.send('<presence><show>away</show></presence>');
      await bob.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
      expect(quiet.all((e) => e.name === 'presence').map(String)).to.deep.equal([]);
      expect(bob.all((e) => e.name === 'presence' && e.attrs.from?.startsWith('alice@') === true).map((e) => e.attrs.from)).to.deep.equal(['alice@localhost/phone']);
    });
  }
});
