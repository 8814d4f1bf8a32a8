import { expect } from 'chai';
import { parseXml } from './stream/parse-xml.js';
import { stanzaIdBy } from './stanza-id.js';

describe('stanzaIdBy', () => {
  const message = parseXml(
    `<message xmlns='jabber:client' from='bob@localhost/b' to='alice@localhost'>` +
      `<stanza-id xmlns='urn:xmpp:sid:0' by='room@conference.localhost' id='room-1'/>` +
      `<stanza-id xmlns='urn:xmpp:other' by='alice@localhost' id='not-sid'/>` +
      `<stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='alice-1'/>` +
      `<stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='alice-2'/>` +
      `<body>hi</body></message>`,
  );

  it("finds the first id stamped by the owner, in XEP-0359's namespace only", () => {
    expect(stanzaIdBy(message, 'alice@localhost')?.attrs.id).to.equal('alice-1');
    expect(stanzaIdBy(message, 'room@conference.localhost')?.attrs.id).to.equal('room-1');
  });

  it('finds nothing stamped by another JID, nor one nested in a payload', () => {
    expect(stanzaIdBy(message, 'alice@localhost/a')).to.equal(undefined);
    const carbon = parseXml(
      `<message xmlns='jabber:client'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>` +
        `<message><stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='inner'/></message></forwarded></received></message>`,
    );
    expect(stanzaIdBy(carbon, 'alice@localhost')).to.equal(undefined);
  });
});
