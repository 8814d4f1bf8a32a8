import { expect } from 'chai';
import { Utf8StreamDecoder, completeLength } from './utf8-decoder.js';

describe('Utf8StreamDecoder', () => {
  const text = 'a€b😀c é';
  const bytes = Buffer.from(text, 'utf8');

  it('decodes a stream cut at every possible point, one and two cuts', () => {
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j++) {
        const d = new Utf8StreamDecoder();
        const out = d.decode(bytes.subarray(0, i)) + d.decode(bytes.subarray(i, j)) + d.decode(bytes.subarray(j));
        expect(out, `cuts at ${i}, ${j}`).to.equal(text);
      }
    }
  });

  it('decodes byte by byte', () => {
    const d = new Utf8StreamDecoder();
    let out = '';
    for (const b of bytes) out += d.decode(Buffer.from([b]));
    expect(out).to.equal(text);
  });

  it('rejects invalid UTF-8: a stray continuation byte, an overlong form, a surrogate, a lead byte followed by ASCII', () => {
    for (const bad of [[0x61, 0x80, 0x62], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82, 0x61], [0xff]]) {
      expect(() => new Utf8StreamDecoder().decode(Buffer.from(bad)), Buffer.from(bad).toString('hex')).to.throw('invalid UTF-8');
    }
  });

  it('rejects a character whose bytes never complete once more data shows it cannot', () => {
    const d = new Utf8StreamDecoder();
    expect(d.decode(Buffer.from([0x61, 0xe2, 0x82]))).to.equal('a');
    expect(() => d.decode(Buffer.from('<'))).to.throw('invalid UTF-8');
  });

  it('holds back only an incomplete trailing character', () => {
    expect(completeLength(Buffer.from('abc'))).to.equal(3);
    expect(completeLength(Buffer.from([0x61, 0xf0, 0x9f, 0x98]))).to.equal(1);
    expect(completeLength(Buffer.from([0x61, 0xf0, 0x9f, 0x98, 0x80]))).to.equal(5);
    expect(completeLength(Buffer.from([0x80, 0x80, 0x80, 0x80]))).to.equal(4); // malformed: left for validation
  });
});
