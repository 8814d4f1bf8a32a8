import { expect } from 'chai';
import { loadConfig } from './config.js';
import { selectModules } from './sori.js';

const names = (overrides: Record<string, unknown>) => selectModules(loadConfig({ env: {}, overrides })).map((m) => m.name);

describe('selectModules: which modules a configuration loads', () => {
  it('loads the defaults, with MUC, occupant ids and moderation among them', () => {
    expect(names({})).to.include.members(['muc', 'occupant-id', 'moderation', 'pep', 'bookmarks']);
    expect(names({})).not.to.include('register');
  });

  it('drops the default modules built on one the operator disabled, and only those', () => {
    const loaded = names({ modules: { disabled: ['muc'] } });
    expect(loaded).not.to.include.members(['muc']);
    expect(loaded).not.to.include('occupant-id');
    expect(loaded).not.to.include('moderation');
    expect(loaded).to.include.members(['pep', 'mam', 'roster']);
  });

  it('keeps a module enabled by name even when what it needs is off, so that the loader names the gap', () => {
    expect(names({ modules: { disabled: ['muc'], enabled: ['moderation'] } })).to.include('moderation');
  });

  it('refuses a module name it does not know', () => {
    expect(() => names({ modules: { disabled: ['mux'] } })).to.throw(/unknown module 'mux'/);
  });
});
