import { expect } from 'chai';
import { formatDateTime, parseDateTimeUs } from './xep-0082-datetime.js';

describe('XEP-0082 DateTime', () => {
  it('formats UTC with Z and always three fraction digits', () => {
    expect(formatDateTime(Date.UTC(2026, 11, 7, 10, 30, 5, 42))).to.equal('2026-12-07T10:30:05.042Z');
    expect(formatDateTime(Date.UTC(2026, 11, 7, 10, 30, 5))).to.equal('2026-12-07T10:30:05.000Z');
    expect(formatDateTime(0)).to.equal('1970-01-01T00:00:00.000Z');
  });

  it('parses stamps with and without a fraction, to the microsecond', () => {
    expect(parseDateTimeUs('1970-01-01T00:00:01Z')).to.equal(1_000_000);
    expect(parseDateTimeUs('1970-01-01T00:00:01.5Z')).to.equal(1_500_000);
    expect(parseDateTimeUs('1970-01-01T00:00:01.000002Z')).to.equal(1_000_002);
    // Digits past the microsecond are dropped, not rounded.
    expect(parseDateTimeUs('1970-01-01T00:00:01.0000029Z')).to.equal(1_000_002);
    const ms = Date.UTC(2026, 11, 7, 10, 30, 5, 42);
    expect(parseDateTimeUs(formatDateTime(ms))).to.equal(ms * 1000);
  });

  it('parses a zone offset either side of UTC', () => {
    expect(parseDateTimeUs('1970-01-01T01:00:00+01:00')).to.equal(0);
    expect(parseDateTimeUs('1969-12-31T18:30:00-05:30')).to.equal(0);
  });

  it('refuses what is not a DateTime', () => {
    expect(parseDateTimeUs('2024-01-01')).to.equal(null); // a Date, not a DateTime
    expect(parseDateTimeUs('2024-01-01T00:00:00')).to.equal(null); // no zone
    expect(parseDateTimeUs('2024-01-01T00:00Z')).to.equal(null); // no seconds
    expect(parseDateTimeUs('2024-02-30T00:00:00Z')).to.equal(null);
    expect(parseDateTimeUs('2024-01-01T24:00:00Z')).to.equal(null);
    expect(parseDateTimeUs('2024-01-01T00:00:00+24:00')).to.equal(null);
    expect(parseDateTimeUs('yesterday')).to.equal(null);
  });
});
