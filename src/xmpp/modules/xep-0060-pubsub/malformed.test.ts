import { expect } from 'chai';
import { eachTest } from '../../../testing/each-test.js';
import { NS_PUBSUB_OWNER } from '../xep-0163-pep/protocol.js';
import { appCondition, condition, get, ok, set, start } from './test-support.js';

describe('XEP-0060 pubsub service: malformed requests', () => {
  const u = eachTest(() => start(), ({ ts }) => ts.stop());
  const affiliations = async () =>
    (await ok(u.alice, get(`<affiliations node='n'/>`, NS_PUBSUB_OWNER))).getChild('pubsub')!.getChild('affiliations')!.getChildren('affiliation').map((a) => `${a.attrs.jid}=${a.attrs.affiliation}`);

  it('refuses an entity named twice in one affiliations change and leaves one without an affiliation as it was (§8.9.2)', async () => {
    await ok(u.alice, set(`<create node='n'/>`));
    await ok(u.alice, set(`<affiliations node='n'><affiliation jid='bob@localhost' affiliation='publisher'/></affiliations>`, NS_PUBSUB_OWNER));
    const twice = await u.alice.iq(set(`<affiliations node='n'><affiliation jid='carol@localhost' affiliation='member'/><affiliation jid='carol@localhost' affiliation='outcast'/></affiliations>`, NS_PUBSUB_OWNER));
    expect(condition(twice)).to.equal('bad-request');
    await ok(u.alice, set(`<affiliations node='n'><affiliation jid='bob@localhost'/><affiliation jid='carol@localhost' affiliation='member'/></affiliations>`, NS_PUBSUB_OWNER));
    expect(await affiliations()).to.deep.equal(['alice@localhost=owner', 'bob@localhost=publisher', 'carol@localhost=member']);
  });

  it('answers requests it cannot process with the XEP-0060 error, and goes on serving', async () => {
    await ok(u.alice, set(`<create node='n'/>`));
    const answers: (string | undefined)[][] = [];
    for (const request of [
      set(`<publish><item/></publish>`),
      set(`<create node='m'/><configure><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x></configure>`),
      set(`<publish node='n'><item><a xmlns='urn:test'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#max_items'><value>lots</value></field></x></publish-options>`),
      set(`<retract node='n'><item/></retract>`),
      set(`<frob node='n'/>`, NS_PUBSUB_OWNER),
      get(`<items node='n' max_items='0'/>`),
    ]) {
      const r = await u.alice.iq(request);
      answers.push([r.attrs.type, condition(r), appCondition(r)?.name]);
    }
    expect(answers).to.deep.equal([
      ['error', 'bad-request', 'nodeid-required'],
      ['error', 'bad-request', undefined],
      ['error', 'conflict', 'precondition-not-met'],
      ['error', 'bad-request', 'item-required'],
      ['error', 'bad-request', undefined],
      ['error', 'bad-request', undefined],
    ]);
    await ok(u.alice, set(`<publish node='n'><item id='fine'><a xmlns='urn:test'/></item></publish>`));
  });
});
