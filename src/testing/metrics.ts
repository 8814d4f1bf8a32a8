import parsePrometheusTextFormat from 'parse-prometheus-text-format';

/**
 * One series of a scrape, read by an independent Prometheus text-format
 * parser as a scraper would: its value, or undefined when the scrape has no
 * series of `name` with these labels.
 */
export function scrapedValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const family = parsePrometheusTextFormat(text).find((f) => f.name === name);
  const found = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return found === undefined ? undefined : Number(found.value);
}

/** A histogram of a scrape as the parser reads it: its cumulative buckets by upper bound, count and sum; undefined when absent. */
export function scrapedHistogram(text: string, name: string): { buckets: Record<string, number>; count: number; sum: number } | undefined {
  const family = parsePrometheusTextFormat(text).find((f) => f.name === name && f.type === 'HISTOGRAM');
  const sample = family?.metrics[0];
  if (sample?.buckets === undefined) return undefined;
  const buckets = Object.fromEntries(Object.entries(sample.buckets).map(([le, n]) => [le, Number(n)]));
  return { buckets, count: Number(sample.count), sum: Number(sample.sum) };
}
