import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { BEGIN, END, configReference } from './config-reference.js';

describe('README', () => {
  it('carries the configuration reference generated from the option declarations', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const start = readme.indexOf(BEGIN);
    const end = readme.indexOf(END);
    expect(start, 'README lacks the config-reference markers').to.be.greaterThan(-1);
    const inReadme = readme.slice(start + BEGIN.length, end).trim();
    expect(inReadme, 'README is stale: run `npm run docs` to regenerate the configuration reference').to.equal(configReference().trim());
  });
});
