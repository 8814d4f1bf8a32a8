/**
 * Counters and gauges in the Prometheus text exposition format (0.0.4), the
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

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labelNames: readonly string[];
  read(): GaugeReading;
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
