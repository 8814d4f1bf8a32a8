import { expect } from 'chai';
import { JidError, parseJid, tryParseJid } from './jid.js';

describe('JID parsing and normalisation (RFC 7622)', () => {
  it('splits local, domain and resource and builds bare/full forms', () => {
    const j = parseJid('juliet@example.com/balcony');
    expect([j.local, j.domain, j.resource, j.bare, j.full]).to.deep.equal(['juliet', 'example.com', 'balcony', 'juliet@example.com', 'juliet@example.com/balcony']);
    expect(parseJid('example.com').bare).to.equal('example.com');
    expect(parseJid('example.com/res').resource).to.equal('res');
  });

  it('case-folds localpart and domain but keeps the resource as written', () => {
    const j = parseJid('Juliet@EXAMPLE.com/Balcony');
    expect(j.full).to.equal('juliet@example.com/Balcony');
  });

  it('applies NFKC to the localpart and strips a trailing dot from the domain', () => {
    expect(parseJid('ﬁ@example.com.').bare).to.equal('fi@example.com');
  });

  it('converts internationalised domains to their ASCII form', () => {
    expect(parseJid('user@müller.example').domain).to.equal('xn--mller-kva.example');
  });

  it('allows @ and / inside the resource', () => {
    expect(parseJid('a@b/c@d/e').resource).to.equal('c@d/e');
  });

  it('rejects malformed JIDs', () => {
    for (const bad of ['@example.com', 'a@', 'a@b/', 'a b@example.com', 'a"b@example.com', 'a@exa mple.com', '', 'a@b..c', `${'x'.repeat(1024)}@example.com`]) {
      expect(() => parseJid(bad), bad).to.throw(JidError);
      expect(tryParseJid(bad), bad).to.equal(null);
    }
  });

  it('returns the same normalised object for repeated input (memoised)', () => {
    expect(parseJid('romeo@example.net/orchard')).to.equal(parseJid('romeo@example.net/orchard'));
  });
});
