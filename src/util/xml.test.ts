import { expect } from 'chai';
import { x, XmlElement } from './xml.js';

describe('XmlElement building and copying', () => {
  it('x() leaves out absent children and makes itself the parent of the element ones', () => {
    const body = x('body', null, 'hi');
    const el = x('message', { to: 'a@b' }, body, undefined, null, false, 'text');
    expect(el.toString()).to.equal('<message to="a@b"><body>hi</body>text</message>');
    expect(body.parent).to.equal(el);
    const plain = x('message', null, body);
    expect(plain.children).to.deep.equal([body]);
    expect(body.parent).to.equal(plain);
  });

  it('withAttrs() readdresses a copy that shares the children but does not take them from the original', () => {
    const original = x('presence', { from: 'a@b/r' }, x('show', null, 'away'), x('c', { xmlns: 'http://jabber.org/protocol/caps', ver: 'v' }));
    const copy = original.withAttrs({ ...original.attrs, to: 'c@d' });
    expect(copy.toString()).to.equal('<presence from="a@b/r" to="c@d"><show>away</show><c xmlns="http://jabber.org/protocol/caps" ver="v"/></presence>');
    expect(original.attrs.to).to.equal(undefined);
    for (const child of original.elements()) expect(child.parent).to.equal(original);
    copy.append(x('delay', { xmlns: 'urn:xmpp:delay' }));
    expect(original.children).to.have.length(2);
    expect(copy.getChild('c', 'http://jabber.org/protocol/caps')?.attrs.ver).to.equal('v');
  });

  it('clone() is a deep copy of its own: same XML, its own parents, changes stay on one side', () => {
    const original = x('presence', { from: 'a@b/r' }, x('status', null, 'out'), x('x', { xmlns: 'vcard-temp:x:update' }, x('photo', null, 'abc')));
    const copy = original.clone();
    expect(copy.toString()).to.equal(original.toString());
    expect(copy.parent).to.equal(null);
    const photo = copy.getChild('x', 'vcard-temp:x:update')!.getChild('photo')!;
    expect(photo.parent!.parent).to.equal(copy);
    photo.children = ['def'];
    copy.attrs.from = 'other@b/r';
    expect(original.toString()).to.equal('<presence from="a@b/r"><status>out</status><x xmlns="vcard-temp:x:update"><photo>abc</photo></x></presence>');
    expect(new XmlElement('a').clone().children).to.deep.equal([]);
  });
});
