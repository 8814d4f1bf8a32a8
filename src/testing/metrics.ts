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
