import { expect } from 'chai';
import { requestedRange } from './byte-range.js';

describe('XEP-0363 upload: Range header (RFC 9110 §14)', () => {
  it('reads the three forms of a single range, the end kept within the file', () => {
    expect(requestedRange('bytes=0-0', 10)).to.deep.equal({ start: 0, end: 0 });
    expect(requestedRange('bytes=3-', 10)).to.deep.equal({ start: 3, end: 9 });
    expect(requestedRange('bytes=-4', 10)).to.deep.equal({ start: 6, end: 9 });
    expect(requestedRange('bytes=-40', 10)).to.deep.equal({ start: 0, end: 9 });
    expect(requestedRange('BYTES=2-99999999999999999999', 10)).to.deep.equal({ start: 2, end: 9 });
  });

  it('finds no byte to serve past the end or in an empty suffix', () => {
    expect(requestedRange('bytes=10-', 10)).to.equal('unsatisfiable');
    expect(requestedRange('bytes=10-20', 10)).to.equal('unsatisfiable');
    expect(requestedRange('bytes=-0', 10)).to.equal('unsatisfiable');
  });

  it('ignores what it does not serve: no header, several ranges, other units, nonsense', () => {
    for (const header of [undefined, 'bytes=0-1,3-4', 'items=0-1', 'bytes=-', 'bytes=5-2', 'bytes=a-b', 'bytes 0-1']) {
      expect(requestedRange(header, 10), String(header)).to.equal(null);
    }
  });
});
