import { expect } from 'chai';
import { readFileSync } from 'node:fs';

const dockerfile = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8');

/** The instructions in order, continuation lines joined. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

describe('Dockerfile', () => {
  it('gives the user sori runs as its data volume, which Docker would otherwise create owned by root', () => {
    const user = instructions.find((i) => i.startsWith('USER '))?.slice(5);
    const volume = instructions.findIndex((i) => i.startsWith('VOLUME '));
    expect(user, 'USER').to.be.a('string');
    const dataDir = JSON.parse(/SORI__server__dataDir='([^']*)'/.exec(dockerfile)![1]!) as string;
    expect(instructions[volume], 'the data directory is the volume').to.include(`"${dataDir}"`);
    // A volume starts with the ownership of the image's directory at that path; a path the image lacks is root's.
    const prepared = instructions.slice(0, volume).some((i) => i.startsWith('RUN ') && i.includes(`mkdir -p ${dataDir}`) && i.includes(`chown ${user}:${user} ${dataDir}`));
    expect(prepared, `a RUN before VOLUME creates ${dataDir} and hands it to ${user}`).to.equal(true);
  });
});
