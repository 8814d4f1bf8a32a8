/** The comparison table: one row per figure, one column per server, then sori's ratio to each other server. */
import type { Figure, ScenarioResult } from './scenarios/context.js';

export interface ServerRun {
  server: string;
  version?: string;
  results: ScenarioResult[];
  error?: string;
}

function formatValue(figure: Figure | undefined): string {
  if (!figure || !Number.isFinite(figure.value)) return '–';
  const value = figure.value;
  const text = Math.abs(value) >= 100 || Number.isInteger(value) ? value.toFixed(0) : value.toFixed(1);
  return figure.unit && figure.unit !== '/s' ? `${text} ${figure.unit}` : text;
}

/** sori relative to another server, phrased so that > 1 always means sori is better. */
function ratio(sori: Figure | undefined, other: Figure | undefined): string {
  if (!sori || !other || sori.better === 'none') return '–';
  const [numerator, denominator] = sori.better === 'higher' ? [sori.value, other.value] : [other.value, sori.value];
  // A negative or zero figure (e.g. RSS that shrank during a small idle run) has no meaningful ratio.
  if (!Number.isFinite(numerator) || !Number.isFinite(denominator) || numerator <= 0 || denominator <= 0) return '–';
  return `${(numerator / denominator).toFixed(2)}×`;
}

export function printTable(runs: ServerRun[]): void {
  const rows: { scenario: string; label: string; better: Figure['better'] }[] = [];
  for (const run of runs) {
    for (const result of run.results) {
      for (const figure of result.figures) {
        if (!rows.some((row) => row.scenario === result.scenario && row.label === figure.label)) {
          rows.push({ scenario: result.scenario, label: figure.label, better: figure.better });
        }
      }
    }
  }
  const find = (run: ServerRun, scenario: string, label: string): Figure | undefined =>
    run.results.find((result) => result.scenario === scenario)?.figures.find((figure) => figure.label === label);
  const soriRun = runs.find((run) => run.server === 'sori' && run.results.length > 0);
  const others = runs.filter((run) => run.server !== 'sori');
  const header = ['scenario', 'figure', ...runs.map((run) => run.server), ...(soriRun ? others.map((run) => `sori vs ${run.server}`) : [])];
  const table = rows.map((row) => [
    row.scenario,
    `${row.label} ${row.better === 'higher' ? '↑' : row.better === 'lower' ? '↓' : ''}`.trim(),
    ...runs.map((run) => formatValue(find(run, row.scenario, row.label))),
    ...(soriRun ? others.map((run) => ratio(find(soriRun, row.scenario, row.label), find(run, row.scenario, row.label))) : []),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...table.map((line) => line[column]!.length)));
  const format = (cells: string[]): string => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ');
  console.log('');
  console.log(format(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const line of table) console.log(format(line));
  console.log('↑ higher is better, ↓ lower is better; "sori vs X" > 1× means sori is better.');
  for (const run of runs) {
    if (run.version) console.log(`${run.server}: ${run.version}`);
    if (run.error) console.log(`${run.server}: ${run.error}`);
  }
}
