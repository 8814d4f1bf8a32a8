import { expect } from 'chai';
import { parseXml } from './stream/parse-xml.js';
import { delayElement, delayedBy } from './delay.js';

describe('XEP-0203 delay', () => {
  const at = Date.UTC(2026, 11, 7, 10, 30, 5, 42);

  it('stamps UTC with milliseconds, and from and a reason only when given', () => {
    expect(delayElement(at).toString()).to.equal(`<delay xmlns="urn:xmpp:delay" stamp="2026-12-07T10:30:05.042Z"/>`);
    expect(delayElement(at, 'localhost', 'Offline storage').toString()).to.equal(
      `<delay xmlns="urn:xmpp:delay" from="localhost" stamp="2026-12-07T10:30:05.042Z">Offline storage</delay>`,
    );
  });

  it('tells a stamp of this domain from one of another server', () => {
    const m = parseXml(
      `<message xmlns='jabber:client'><delay xmlns='urn:xmpp:delay' from='example.org' stamp='2026-12-07T10:30:05Z'/>` +
        `<delay xmlns='urn:example:other' from='localhost' stamp='2026-12-07T10:30:05Z'/></message>`,
    );
    expect(delayedBy(m, 'example.org')).to.equal(true);
    expect(delayedBy(m, 'localhost')).to.equal(false);
    m.append(delayElement(at, 'localhost'));
    expect(delayedBy(m, 'localhost')).to.equal(true);
  });
});
