import { expect } from 'chai';
import { x } from '../../../util/xml.js';
import { historyMessages } from './history.js';
import type { HistoryEntry } from './room.js';

const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);
const entry = (body: string, secondsAgo: number): HistoryEntry => ({ stanza: x('message', { type: 'groupchat', from: 'talk@conference.example.org/olga' }, x('body', null, body)), ms: NOW - secondsAgo * 1000, nick: 'olga' });
const history = [entry('one', 300), entry('two', 120), entry('three', 30)];
const bodies = (req: string | undefined): string[] =>
  historyMessages('talk@conference.example.org', history, 'gus@example.org/laptop', req === undefined ? undefined : x('history', Object.fromEntries(req.split(' ').map((kv) => kv.split('=') as [string, string]))), NOW).map(
    (m) => m.getChildText('body') ?? '',
  );

describe('MUC discussion history (XEP-0045 §7.2.15)', () => {
  it('sends all of it by default, addressed to the newcomer and stamped by the room', () => {
    const messages = historyMessages('talk@conference.example.org', history, 'gus@example.org/laptop', undefined, NOW);
    expect(messages.map((m) => m.getChildText('body'))).to.deep.equal(['one', 'two', 'three']);
    expect(messages[0]!.attrs.to).to.equal('gus@example.org/laptop');
    const delay = messages[0]!.getChild('delay', 'urn:xmpp:delay')!;
    expect(delay.attrs).to.include({ from: 'talk@conference.example.org', stamp: '2026-12-05T11:55:00.000Z' });
    expect(history[0]!.stanza.attrs.to, 'the stored history is left as it was').to.equal(undefined);
  });

  it('honours maxstanzas, seconds, since and maxchars', () => {
    expect(bodies('maxstanzas=2')).to.deep.equal(['two', 'three']);
    expect(bodies('maxstanzas=0')).to.deep.equal([]);
    expect(bodies('seconds=200')).to.deep.equal(['two', 'three']);
    expect(bodies('since=2026-12-05T11:59:00Z')).to.deep.equal(['three']);
    const oneMessage = history[2]!.stanza.toString().length;
    expect(bodies(`maxchars=${oneMessage}`)).to.deep.equal(['three']);
    expect(bodies('maxstanzas=x')).to.deep.equal(['one', 'two', 'three']);
  });
});
