import { expect } from 'chai';
import { ArchiveIdGenerator, idTimeMs, idTimeUs, isArchiveId, timeKey } from './archive-id.js';

describe('XEP-0313 archive ids', () => {
  it('are unique, sortable and carry their time', () => {
    const g = new ArchiveIdGenerator();
    const t = Date.parse('2024-05-01T10:00:00Z') * 1000;
    const ids = [g.next(t), g.next(t), g.next(t + 1), g.next(t - 5_000_000), g.next(t + 2)];
    expect(ids.every(isArchiveId)).to.equal(true);
    expect([...ids].sort()).to.deep.equal(ids); // the clock going back does not reorder
    expect(new Set(ids).size).to.equal(ids.length);
    expect(idTimeUs(ids[0]!)).to.equal(t);
    expect(idTimeMs(ids[4]!)).to.equal(t / 1000);
  });

  it('spills more than 1024 ids in one microsecond into the next one', () => {
    const g = new ArchiveIdGenerator();
    let last = '';
    for (let i = 0; i < 3000; i++) {
      const id = g.next(1_000_000);
      expect(id > last).to.equal(true);
      last = id;
    }
    expect(idTimeUs(last)).to.equal(1_000_002);
  });

  it('makes time bounds that are id prefixes', () => {
    const g = new ArchiveIdGenerator();
    const id = g.next(5_000_000);
    expect(id.startsWith(timeKey(5_000_000))).to.equal(true);
    expect(id >= timeKey(5_000_000) && id < timeKey(5_000_001)).to.equal(true);
  });
});
