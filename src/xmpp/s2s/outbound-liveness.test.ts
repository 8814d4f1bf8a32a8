import { expect } from 'chai';
import { parseJid } from '../../util/jid.js';
import { x } from '../../util/xml.js';
import type { OutboundStanza } from './context.js';
import { OutboundLiveness } from './outbound-liveness.js';

const stanza = (id: string): OutboundStanza => ({ stanza: x('message', { id, to: 'bob@b.test' }), from: parseJid('alice@a.test/r') });
const ids = (list: OutboundStanza[]): (string | undefined)[] => list.map((s) => s.stanza.attrs.id);
const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A ping the test answers by hand: `answer(true)` for a reply, `answer(false)` for the timeout. */
function manualPing(): { ping: () => Promise<boolean>; sent: () => number; answer: (answered: boolean) => void } {
  const waiting: ((answered: boolean) => void)[] = [];
  let sent = 0;
  return {
    ping: () => {
      sent++;
      return new Promise((resolve) => waiting.push(resolve));
    },
    sent: () => sent,
    answer: (answered) => waiting.shift()!(answered),
  };
}

describe('OutboundLiveness', () => {
  it('pings some time after a write; an answer confirms what was written before the ping, and what came after waits for the next', async () => {
    const p = manualPing();
    const dead: OutboundStanza[][] = [];
    const liveness = new OutboundLiveness(20, 1000, p.ping, (u) => dead.push(u));
    liveness.written(stanza('m1'));
    liveness.written(stanza('m2'));
    await tick(40);
    expect(p.sent(), 'one ping for both').to.equal(1);
    liveness.written(stanza('m3'));
    p.answer(true);
    await tick(40);
    expect(p.sent(), 'm3 came after the ping: another one').to.equal(2);
    p.answer(false);
    await tick(0);
    expect(dead.map(ids)).to.deep.equal([['m3']]);
    liveness.written(stanza('m4'));
    await tick(40);
    expect(p.sent(), 'no ping once the peer is taken for dead').to.equal(2);
  });

  it('pings at once when maxKept stanzas wait for an answer, and hands them all, in order, to dead when none comes', async () => {
    const p = manualPing();
    const dead: OutboundStanza[][] = [];
    const liveness = new OutboundLiveness(60_000, 3, p.ping, (u) => dead.push(u));
    for (const id of ['m1', 'm2', 'm3']) liveness.written(stanza(id));
    expect(p.sent()).to.equal(1);
    liveness.written(stanza('m4'));
    expect(p.sent(), 'one ping at a time').to.equal(1);
    p.answer(false);
    await tick(0);
    expect(dead.map(ids)).to.deep.equal([['m1', 'm2', 'm3', 'm4']]);
  });

  it('returns what is unconfirmed when stopped, and then neither pings nor calls dead', async () => {
    const p = manualPing();
    let deadCalls = 0;
    const liveness = new OutboundLiveness(10, 1000, p.ping, () => deadCalls++);
    liveness.written(stanza('m1'));
    expect(ids(liveness.stop())).to.deep.equal(['m1']);
    await tick(30);
    expect(p.sent()).to.equal(0);
    expect(deadCalls).to.equal(0);
  });
});
