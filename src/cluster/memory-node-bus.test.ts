import { expect } from 'chai';
import { eventually } from '../testing/eventually.js';
import { MemoryNodeBus, MemoryNodeBusHub } from './memory-node-bus.js';

describe('MemoryNodeBus', function () {
  it('delivers in send order to a started node, waiting for asynchronous handlers', async function () {
    const hub = new MemoryNodeBusHub();
    const a = new MemoryNodeBus('a', hub);
    const b = new MemoryNodeBus('b', hub);
    const log: string[] = [];
    b.onMessage(async (payload, from) => {
      log.push(`start ${payload} from ${from}`);
      await new Promise((r) => setTimeout(r, 2));
      log.push(`end ${payload}`);
    });
    await a.start();
    await b.start();
    expect(await a.send('b', 'one')).to.equal(true);
    expect(await a.send('b', 'two')).to.equal(true);
    await eventually(() => expect(log).to.deep.equal(['start one from a', 'end one', 'start two from a', 'end two']));
  });

  it('refuses to send to a node that is not started or has stopped', async function () {
    const hub = new MemoryNodeBusHub();
    const a = new MemoryNodeBus('a', hub);
    const b = new MemoryNodeBus('b', hub);
    await a.start();
    expect(await a.send('b', 'x')).to.equal(false);
    await b.start();
    await b.stop();
    expect(await a.send('b', 'x')).to.equal(false);
  });

  it('keeps delivering after a handler throws', async function () {
    const hub = new MemoryNodeBusHub();
    const a = new MemoryNodeBus('a', hub);
    const received: string[] = [];
    a.onMessage((payload) => {
      if (payload === 'bad') throw new Error('handler failure expected by the test');
      received.push(payload);
    });
    await a.start();
    await a.send('a', 'bad');
    await a.send('a', 'good');
    await eventually(() => expect(received).to.deep.equal(['good']));
  });
});
