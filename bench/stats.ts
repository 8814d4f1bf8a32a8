/** Latency summaries shared by the runner and the scenarios. */

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(samples: ArrayLike<number>[]): LatencySummary {
  let total = 0;
  for (const part of samples) total += part.length;
  const all = new Float64Array(total);
  let offset = 0;
  for (const part of samples) {
    all.set(part as ArrayLike<number>, offset);
    offset += part.length;
  }
  all.sort();
  const at = (quantile: number): number => (total === 0 ? NaN : all[Math.min(total - 1, Math.floor(quantile * total))]!);
  let sum = 0;
  for (const value of all) sum += value;
  return { count: total, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: total ? all[total - 1]! : NaN, mean: total ? sum / total : NaN };
}

/** Growable buffer of float samples without per-sample allocation. */
export class SampleBuffer {
  private values = new Float64Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.length++] = value;
  }

  toArray(): Float64Array {
    return this.values.slice(0, this.length);
  }
}

export function formatMs(value: number): string {
  if (!Number.isFinite(value)) return '–';
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}
