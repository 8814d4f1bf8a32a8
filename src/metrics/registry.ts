/**
 * Counters, gauges and histograms in the Prometheus text exposition format (0.0.4), the
 * format Prometheus, VictoriaMetrics, Grafana Agent and Datadog all scrape.
 *
 * Counting is on the hot path (every stanza a client sends), so a counter is
 * a number in a map slot; the text is built only when scraped. A gauge is a
 * function read at scrape time: session counts, memory and queue lengths
 * need no bookkeeping between scrapes.
 */

/** One labelled series of a counter, kept by the caller that counts often (no map lookup per count). */
export interface CounterSeries {
  inc(by?: number): void;
}

export interface Counter {
  /** Counts for these label values, in the order the counter's labels were declared. */
  inc(...labelValues: string[]): void;
  /** The series for these label values, for callers that count the same series often. */
  series(...labelValues: string[]): CounterSeries;
}

/** A distribution (durations): counts per bucket, their sum and count, for quantiles in PromQL (histogram_quantile). */
export interface Histogram {
  observe(value: number): void;
}

/** What a gauge reports: one value, or one value per label value set (`[labelValues, value]`). */
export type GaugeReading = number | ReadonlyArray<readonly [readonly string[], number]>;

/** What modules may register (ServerApi.metrics). Names are prefixed by the caller (`sori_…`). */
export interface MetricsApi {
  /** A monotonically increasing count; `name` ends in `_total`. */
  counter(name: string, help: string, labelNames?: readonly string[]): Counter;
  /** A value read when scraped; `read` must be cheap and must not throw. */
  gauge(name: string, help: string, read: () => GaugeReading, labelNames?: readonly string[]): void;
  /** Like `gauge`, for a value that only grows (CPU seconds): exposed with TYPE counter. */
  counterFrom(name: string, help: string, read: () => GaugeReading, labelNames?: readonly string[]): void;
  /** A histogram with these upper bounds (ascending; +Inf is added), for something observed once per event, not per stanza. */
  histogram(name: string, help: string, buckets: readonly number[]): Histogram;
  /** Every metric in the text exposition format. */
  render(): string;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

class CounterImpl implements Counter {
  /** Series by their label values joined with NUL (which no label value we count contains). */
  readonly values = new Map<string, { value: number; labels: readonly string[] }>();

  constructor(private readonly labelCount: number) {}

  inc(...labelValues: string[]): void {
    this.slot(labelValues).value++;
  }

  series(...labelValues: string[]): CounterSeries {
    const s = this.slot(labelValues);
    return {
      inc(by = 1) {
        s.value += by;
      },
    };
  }

  private slot(labelValues: string[]): { value: number; labels: readonly string[] } {
    if (labelValues.length !== this.labelCount) throw new Error(`expected ${this.labelCount} label values, got ${labelValues.length}`);
    const key = labelValues.join('\u0000');
    let slot = this.values.get(key);
    if (slot === undefined) {
      slot = { value: 0, labels: labelValues };
      this.values.set(key, slot);
    }
    return slot;
  }
}

class HistogramImpl implements Histogram {
  /** Observations per bucket, not cumulative; the last slot is above every bound. */
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }

  /** The exposition's samples: cumulative `_bucket`s by `le`, then `_sum` and `_count`. */
  lines(name: string): string[] {
    const out: string[] = [];
    let cumulative = 0;
    this.bounds.forEach((bound, i) => {
      cumulative += this.counts[i]!;
      out.push(`${name}_bucket{le="${formatValue(bound)}"} ${cumulative}`);
    });
    out.push(`${name}_bucket{le="+Inf"} ${this.count}`, `${name}_sum ${formatValue(this.sum)}`, `${name}_count ${this.count}`);
    return out;
  }
}

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  labelNames: readonly string[];
  read(): GaugeReading;
  /** Samples written as they are (a histogram's), instead of one per reading. */
  lines?(): string[];
}

export class MetricsRegistry implements MetricsApi {
  private readonly families = new Map<string, Family>();

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    if (!name.endsWith('_total')) throw new Error(`counter ${name} must end in _total`);
    const counter = new CounterImpl(labelNames.length);
    this.add({
      name, help, type: 'counter', labelNames,
      read: () => [...counter.values.values()].map((s) => [s.labels, s.value] as const),
    });
    return counter;
  }

  gauge(name: string, help: string, read: () => GaugeReading, labelNames: readonly string[] = []): void {
    this.add({ name, help, type: 'gauge', labelNames, read });
  }

  counterFrom(name: string, help: string, read: () => GaugeReading, labelNames: readonly string[] = []): void {
    this.add({ name, help, type: 'counter', labelNames, read });
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    if (buckets.length === 0 || buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]!))) throw new Error(`histogram ${name}: buckets must be finite and ascending`);
    const histogram = new HistogramImpl(buckets);
    this.add({ name, help, type: 'histogram', labelNames: [], read: () => [], lines: () => histogram.lines(name) });
    return histogram;
  }

  private add(family: Family): void {
    if (!NAME.test(family.name) || family.labelNames.some((l) => !NAME.test(l))) throw new Error(`invalid metric or label name in ${family.name}`);
    if (this.families.has(family.name)) throw new Error(`metric ${family.name} is registered twice`);
    this.families.set(family.name, family);
  }

  /** The text exposition of every metric. A gauge whose read throws is left out, with a comment saying so. */
  render(): string {
    const out: string[] = [];
    for (const f of this.families.values()) {
      out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
      if (f.lines !== undefined) {
        out.push(...f.lines());
        continue;
      }
      let reading: GaugeReading;
      try {
        reading = f.read();
      } catch (e) {
        out.push(`# ${f.name} could not be read: ${escapeHelp(e instanceof Error ? e.message : String(e))}`);
        continue;
      }
      if (typeof reading === 'number') {
        out.push(`${f.name} ${formatValue(reading)}`);
        continue;
      }
      for (const [values, value] of reading) out.push(`${f.name}${labelSet(f.labelNames, values)} ${formatValue(value)}`);
    }
    out.push('');
    return out.join('\n');
  }
}

function labelSet(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return '';
  return `{${names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`).join(',')}}`;
}

function escapeLabel(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

function escapeHelp(help: string): string {
  return help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
