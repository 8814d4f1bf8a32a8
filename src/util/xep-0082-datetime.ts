/**
 * XEP-0082's DateTime profile, the form XMPP extensions give a moment in
 * time: `CCYY-MM-DDThh:mm:ss[.sss]TZD`, seconds required, any number of
 * fraction digits, a zone (`Z` or `±hh:mm`) required. Archive queries
 * (XEP-0313 start/end), room history (XEP-0045 `since`), `<delay/>` stamps
 * (XEP-0203), retraction and moderation tombstones (XEP-0424, XEP-0425) and
 * service credentials (XEP-0215 `expires`) all read or write it, so it lives
 * here and not in one of their modules.
 * Parsed to microseconds because archive ids order messages to the
 * microsecond, and a query's bound must be as fine as what it bounds.
 */
const DATETIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/;

/** Microseconds since the epoch, or null when `s` is not an XEP-0082 DateTime. */
export function parseDateTimeUs(s: string): number | null {
  const m = DATETIME.exec(s.trim());
  if (m === null) return null;
  const [, y, mo, d, h, mi, sec, frac, tz] = m;
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(sec);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
  let ms = Date.UTC(Number(y), month - 1, day, hour, minute, Math.min(second, 59));
  if (new Date(ms).getUTCDate() !== day) return null; // 2024-02-30
  if (tz !== 'Z') {
    const sign = tz![0] === '-' ? -1 : 1;
    const tzh = Number(tz!.slice(1, 3));
    const tzm = Number(tz!.slice(4, 6));
    if (tzh > 23 || tzm > 59) return null;
    ms -= sign * (tzh * 60 + tzm) * 60_000;
  }
  const micro = frac === undefined ? 0 : Number((frac + '000000').slice(0, 6));
  return ms * 1000 + micro;
}

/** XEP-0082 DateTime in UTC with milliseconds, from milliseconds since the epoch. */
export function formatDateTime(ms: number): string {
  return new Date(ms).toISOString();
}
