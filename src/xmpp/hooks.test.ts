import { expect } from 'chai';
import { Hooks } from './hooks.js';

const EVENT = {} as Record<string, never>;

describe('Hooks', () => {
  it('runs handlers by priority, then registration order, and stays synchronous while they are', () => {
    const hooks = new Hooks();
    const ran: string[] = [];
    hooks.add('server/started', () => void ran.push('low'), -10);
    hooks.add('server/started', () => void ran.push('high-1'), 10);
    hooks.add('server/started', () => void ran.push('high-2'), 10);
    expect(hooks.fire('server/started', EVENT)).to.equal(false);
    expect(ran).to.deep.equal(['high-1', 'high-2', 'low']);
  });

  it('stops at the handler that claims the event', () => {
    const hooks = new Hooks();
    const ran: string[] = [];
    hooks.add('server/started', () => {
      ran.push('claims');
      return true;
    }, 1);
    hooks.add('server/started', () => void ran.push('never'));
    expect(hooks.fire('server/started', EVENT)).to.equal(true);
    expect(ran).to.deep.equal(['claims']);
  });

  it('after an asynchronous handler, runs the rest in order, synchronous or not, and stops at a claim', async () => {
    const hooks = new Hooks();
    const ran: string[] = [];
    hooks.add('server/started', async () => {
      await new Promise((resolve) => setImmediate(resolve));
      ran.push('async');
    }, 3);
    hooks.add('server/started', () => void ran.push('sync'), 2);
    hooks.add('server/started', async () => {
      ran.push('async claim');
      return true;
    }, 1);
    hooks.add('server/started', () => void ran.push('never'), 0);
    const result = hooks.fire('server/started', EVENT);
    expect(result).to.be.instanceOf(Promise);
    expect(ran).to.deep.equal([]);
    expect(await result).to.equal(true);
    expect(ran).to.deep.equal(['async', 'sync', 'async claim']);
  });

  it('a synchronous claim after an asynchronous handler resolves to true', async () => {
    const hooks = new Hooks();
    const ran: string[] = [];
    hooks.add('server/started', () => Promise.resolve(false), 2);
    hooks.add('server/started', () => true, 1);
    hooks.add('server/started', () => void ran.push('never'), 0);
    expect(await hooks.fire('server/started', EVENT)).to.equal(true);
    expect(ran).to.deep.equal([]);
  });

  it('a rejected handler rejects the firing, and later handlers do not run', async () => {
    const hooks = new Hooks();
    const ran: string[] = [];
    hooks.add('server/started', () => Promise.resolve(), 2);
    hooks.add('server/started', () => Promise.reject(new Error('store down')), 1);
    hooks.add('server/started', () => void ran.push('never'), 0);
    let error: unknown;
    try {
      await hooks.fire('server/started', EVENT);
    } catch (e) {
      error = e;
    }
    expect((error as Error).message).to.equal('store down');
    expect(ran).to.deep.equal([]);
  });

  it('a removed handler no longer runs', () => {
    const hooks = new Hooks();
    const ran: string[] = [];
    const remove = hooks.add('server/started', () => void ran.push('removed'));
    hooks.add('server/started', () => void ran.push('kept'));
    remove();
    hooks.fire('server/started', EVENT);
    expect(ran).to.deep.equal(['kept']);
  });
  it('fireEach runs the handlers after one that throws, and reports what it threw', async () => {
    const hooks = new Hooks();
    const ran: string[] = [];
    const failed: unknown[] = [];
    const down = new Error('down');
    hooks.add('server/started', () => void ran.push('before'), 2);
    hooks.add('server/started', () => Promise.reject(down), 1);
    hooks.add('server/started', () => void ran.push('after'));
    await hooks.fireEach('server/started', EVENT, (e) => failed.push(e));
    expect(ran).to.deep.equal(['before', 'after']);
    expect(failed).to.deep.equal([down]);
  });
});
