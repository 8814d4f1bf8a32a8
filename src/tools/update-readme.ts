import { readFileSync, writeFileSync } from 'node:fs';
import { BEGIN, END, configReference } from './config-reference.js';

/** `npm run docs`: rewrites the configuration reference between the README's markers. */
const path = new URL('../../README.md', import.meta.url);
const readme = readFileSync(path, 'utf8');
const start = readme.indexOf(BEGIN);
const end = readme.indexOf(END);
if (start === -1 || end === -1) throw new Error('README.md lacks the config-reference markers');
writeFileSync(path, readme.slice(0, start + BEGIN.length) + '\n' + configReference() + '\n' + readme.slice(end));
