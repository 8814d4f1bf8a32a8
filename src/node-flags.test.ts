import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { missingRuntimeFlags, nodeRuntimeFlags } from './node-flags.js';

const repositoryFile = (name: string): string => readFileSync(new URL(`../${name}`, import.meta.url), 'utf8');

describe('node runtime flags', () => {
  it('are on the command line of `npm start`', () => {
    const start = (JSON.parse(repositoryFile('package.json')) as { scripts: Record<string, string> }).scripts.start!;
    const words = start.split(' ');
    expect(words.slice(0, 1), 'npm start runs node itself, so that V8 sees the flags').to.deep.equal(['node']);
    for (const flag of nodeRuntimeFlags) expect(words).to.include(flag);
  });

  it("are on the command line of the Dockerfile's CMD", () => {
    const cmd = /^CMD (\[.*\])$/m.exec(repositoryFile('Dockerfile'));
    expect(cmd, 'the Dockerfile has an exec-form CMD').to.not.equal(null);
    const words = JSON.parse(cmd![1]!) as string[];
    expect(words[0]).to.equal('node');
    for (const flag of nodeRuntimeFlags) expect(words).to.include(flag);
  });

  it('are reported missing unless given on the command line or in NODE_OPTIONS', () => {
    expect(missingRuntimeFlags([], '')).to.deep.equal([...nodeRuntimeFlags]);
    expect(missingRuntimeFlags([...nodeRuntimeFlags], '')).to.deep.equal([]);
    expect(missingRuntimeFlags(['--inspect'], `--enable-source-maps ${nodeRuntimeFlags.join(' ')}`)).to.deep.equal([]);
  });
});
