import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HeapTrimmer, type HeapTrimRuntime } from './heap-trim.js';

const MiB = 2 ** 20;

/** A runtime whose busy share per second is scripted and whose collections are counted. */
function scriptedRuntime(busyShares: number[], newSpaceBytes = 100 * MiB): HeapTrimRuntime & { collections: number } {
  const runtime = {
    collections: 0,
    busyShareSinceLastCall: () => busyShares.shift() ?? 0,
    newSpaceResidentBytes: () => (runtime.collections > 0 ? 1 * MiB : newSpaceBytes),
    collectYoungGeneration: () => void runtime.collections++,
  };
  return runtime;
}

const ticks = (trimmer: HeapTrimmer, count: number): boolean[] => Array.from({ length: count }, () => trimmer.tick());

describe('heap trim when quiet', () => {
  it('collects once, after the given number of quiet seconds in a row', () => {
    const trims: [number, number][] = [];
    const runtime = scriptedRuntime([0.9, 0.01, 0.02, 0.6, 0.01, 0.0, 0.03]);
    const trimmer = new HeapTrimmer({ quietSeconds: 3, onTrim: (trim) => trims.push([trim.beforeBytes, trim.afterBytes]) }, runtime);
    // busy, quiet, quiet, busy (count restarts), quiet ×3 → trim, then quiet forever → no more.
    expect(ticks(trimmer, 10)).to.deep.equal([false, false, false, false, false, false, true, false, false, false]);
    expect(runtime.collections).to.equal(1);
    expect(trims).to.deep.equal([[100 * MiB, 1 * MiB]]);
  });

  it('tries again while the young generation stays big, four times per quiet stretch', () => {
    const runtime = scriptedRuntime([]);
    runtime.newSpaceResidentBytes = () => 100 * MiB;
    const trimmer = new HeapTrimmer({ quietSeconds: 2 }, runtime);
    expect(ticks(trimmer, 12)).to.deep.equal([false, true, false, true, false, true, false, true, false, false, false, false]);
  });

  it('collects again after the next busy stretch ends', () => {
    const runtime = scriptedRuntime([0, 0, 0.5, 0, 0]);
    runtime.newSpaceResidentBytes = () => 100 * MiB;
    const trimmer = new HeapTrimmer({ quietSeconds: 2, minNewSpaceBytes: 0 }, runtime);
    expect(ticks(trimmer, 5)).to.deep.equal([false, true, false, false, true]);
  });

  it('leaves a small young generation alone', () => {
    const runtime = scriptedRuntime([], 4 * MiB);
    const trimmer = new HeapTrimmer({ quietSeconds: 1 }, runtime);
    expect(ticks(trimmer, 3)).to.deep.equal([false, false, false]);
    expect(runtime.collections).to.equal(0);
  });

  it("gives back a real process's young generation once its event loop goes quiet", function () {
    this.timeout(40_000);
    // A child with sori's semi-space size grows its young generation with objects that survive scavenges, drops
    // them, goes quiet, and reports the young generation's resident size before and after the trimmer runs.
    const script = `
      import v8 from 'node:v8';
      import { startHeapTrim } from ${JSON.stringify(fileURLToPath(new URL('./heap-trim.ts', import.meta.url)))};
      const resident = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').physical_space_size;
      let kept = [];
      for (let i = 0; i < 3_000_000; i++) { kept.push({ i, s: 'x' + i }); if (kept.length > 400_000) kept = kept.slice(200_000); }
      kept = null;
      const grown = resident();
      let trimmedTo = -1;
      startHeapTrim({ quietSeconds: 3, onTrim: (trim) => { trimmedTo = trim.afterBytes; } });
      const report = () => { console.log(JSON.stringify({ grown, trimmedTo, now: resident() })); process.exit(0); };
      // Tries come 3 s apart and V8 usually shrinks at the second or third; the deadline leaves room for a slow machine.
      setInterval(() => { if (resident() < grown / 4) report(); }, 500).unref();
      setTimeout(report, 25_000);
    `;
    const child = spawnSync(process.execPath, ['--max-semi-space-size=64', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.status, child.stderr).to.equal(0);
    const { grown, trimmedTo, now } = JSON.parse(child.stdout) as { grown: number; trimmedTo: number; now: number };
    expect(grown, 'the young generation grew past 32 MiB').to.be.greaterThan(32 * MiB);
    expect(trimmedTo, 'a trim ran').to.be.at.least(0);
    expect(now, 'it gave back most of it').to.be.lessThan(grown / 4);
  });
});
