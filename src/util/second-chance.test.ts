import { expect } from 'chai';
import { evictSecondChance, type SecondChance } from './second-chance.js';

describe('evictSecondChance', () => {
  const entries = (...keys: string[]): Map<string, SecondChance> => new Map(keys.map((k) => [k, { recent: false }]));

  it('drops the oldest entries not read since the last pass, sparing and un-flagging the read ones', () => {
    const map = entries('a', 'b', 'c', 'd');
    map.get('a')!.recent = true;
    map.get('c')!.recent = true;
    const dropped: string[] = [];
    evictSecondChance(map, () => map.size > 2, (key) => dropped.push(key));
    expect(dropped).to.deep.equal(['b', 'd']);
    expect([...map.keys()]).to.deep.equal(['a', 'c']);
    expect([...map.values()].every((v) => !v.recent)).to.equal(true);
  });

  it('ends when every entry was read: one pass clears the flags, then the oldest goes', () => {
    const map = entries('a', 'b');
    for (const v of map.values()) v.recent = true;
    evictSecondChance(map, () => map.size > 1);
    expect([...map.keys()]).to.deep.equal(['b']);
  });

  it('stops on an empty map even if the condition still holds', () => {
    const map = entries();
    evictSecondChance(map, () => true);
    expect(map.size).to.equal(0);
  });
});
