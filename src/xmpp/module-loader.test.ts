import { expect } from 'chai';
import { TestServer } from '../testing/harness.js';
import { defineModule } from './module.js';

interface CounterApi {
  started: number;
}

describe('module loader: optional dependencies', () => {
  const started: string[] = [];
  const provider = defineModule({
    name: 'provider',
    implements: 'test',
    start(ctx) {
      started.push('provider');
      ctx.provide<CounterApi>({ started: started.length });
    },
  });
  let seen: CounterApi | null | undefined;
  // Listed before its optional dependency: the loader must still start the provider first.
  const consumer = defineModule({
    name: 'consumer',
    implements: 'test',
    optionalDepends: ['provider'],
    start(ctx) {
      started.push('consumer');
      seen = ctx.useIfLoaded<CounterApi>('provider');
    },
  });
  const undeclared = defineModule({
    name: 'undeclared',
    implements: 'test',
    start(ctx) {
      ctx.useIfLoaded<CounterApi>('provider');
    },
  });

  beforeEach(() => {
    started.length = 0;
    seen = undefined;
  });

  it('starts an optional dependency that is loaded first and hands its API over', async () => {
    const ts = await TestServer.start([consumer, provider]);
    await ts.stop();
    expect(started).to.deep.equal(['provider', 'consumer']);
    expect(seen).to.deep.equal({ started: 1 });
  });

  it('starts without an optional dependency that is not loaded, which it then sees as null', async () => {
    const ts = await TestServer.start([consumer]);
    await ts.stop();
    expect(started).to.deep.equal(['consumer']);
    expect(seen).to.equal(null);
  });

  it('refuses a module reaching for one it did not declare', async () => {
    let error: unknown;
    try {
      const ts = await TestServer.start([provider, undeclared]);
      await ts.stop();
    } catch (e) {
      error = e;
    }
    expect(String(error)).to.match(/undeclared uses provider without declaring it in optionalDepends/);
  });
});
