import { expect } from 'chai';
import { createLogger, getLogLevel, setLogFormat, setLogLevel, type LogLevel } from './log.js';

/** Runs `fn` with stderr captured; returns the lines written. */
function captured(fn: () => void): string[] {
  const original = process.stderr.write.bind(process.stderr);
  const lines: string[] = [];
  process.stderr.write = ((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = original;
  }
  return lines;
}

describe('log', () => {
  // The level is process-wide and other tests quieten it: set it here, and put it back.
  let levelBefore: LogLevel;
  beforeEach(() => {
    levelBefore = getLogLevel();
    setLogLevel('info');
  });
  afterEach(() => {
    setLogFormat('text');
    setLogLevel(levelBefore);
  });

  it('writes one JSON object per line in the json format, with the error and other details apart', () => {
    setLogFormat('json');
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const lines = captured(() => {
      createLogger('sori').child('cluster').warn('node b is dead', new Error('boom'), { node: 'b' });
      createLogger('sori').error('cannot serialise', cycle);
      createLogger('sori').debug('below the level');
    });
    expect(lines).to.have.length(2);
    const first = JSON.parse(lines[0]!);
    expect(first).to.include({ level: 'warn', logger: 'sori:cluster', msg: 'node b is dead' });
    expect(first.error.message).to.equal('boom');
    expect(first.error.stack).to.contain('log.test.ts');
    expect(first.detail).to.deep.equal([{ node: 'b' }]);
    expect(Date.parse(first.time)).to.be.closeTo(Date.now(), 5_000);
    expect(JSON.parse(lines[1]!)).to.include({ msg: 'cannot serialise' });
  });

  it('writes readable text lines by default', () => {
    const lines = captured(() => createLogger('sori').info('listening', 5222));
    expect(lines[0]).to.match(/^\d{4}-\d\d-\d\dT\S+ info  \[sori\] listening 5222\n$/);
  });
});
