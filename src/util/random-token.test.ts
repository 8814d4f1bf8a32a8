import { expect } from 'chai';
import { randomBase64, randomHex } from './random-token.js';

describe('random tokens', () => {
  it('are the requested length, and no two of 10,000 (crossing pool refills) are equal', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const hex = randomHex(12);
      expect(hex).to.match(/^[0-9a-f]{24}$/);
      seen.add(hex);
    }
    expect(seen.size).to.equal(10_000);
    expect(Buffer.from(randomBase64(18), 'base64')).to.have.length(18);
  });

  it('spread their bits evenly', () => {
    const ones = new Array<number>(8).fill(0);
    const samples = 20_000;
    for (let i = 0; i < samples; i++) {
      const byte = Number.parseInt(randomHex(1), 16);
      for (let bit = 0; bit < 8; bit++) ones[bit]! += (byte >> bit) & 1;
    }
    // Each bit is set in half the samples; 5 standard deviations (~354) either side.
    for (const count of ones) expect(count).to.be.within(samples / 2 - 354, samples / 2 + 354);
  });
});
