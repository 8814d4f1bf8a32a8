import { expect } from 'chai';
import { x } from '../../../util/xml.js';
import { parseH, SmState } from './state.js';

const msg = (n: number) => x('message', { id: String(n) });

describe('XEP-0198 counters (SmState)', () => {
  it('parses h as an unsigned 32-bit decimal integer', () => {
    expect(parseH('0')).to.equal(0);
    expect(parseH('4294967295')).to.equal(4294967295);
    expect(parseH('4294967296')).to.equal(null);
    expect(parseH('-1')).to.equal(null);
    expect(parseH('1e3')).to.equal(null);
    expect(parseH('')).to.equal(null);
    expect(parseH(undefined)).to.equal(null);
  });

  it('derives inbound h from the session counter at enable', () => {
    const s = new SmState('id', true, 300, 7);
    expect(s.handled(7)).to.equal(0);
    expect(s.handled(10)).to.equal(3);
  });

  it('an ack releases exactly the stanzas it covers; repeated acks are no-ops', () => {
    const s = new SmState('id', true, 300, 0);
    for (let i = 1; i <= 5; i++) s.push(msg(i), i);
    expect(s.sent).to.equal(5);
    expect(s.ack(2)).to.deep.equal({ ok: true, released: 2 });
    expect(s.queue.map((m) => m.attrs.id)).to.deep.equal(['3', '4', '5']);
    expect(s.queuedAt).to.deep.equal([3, 4, 5]);
    expect(s.ack(2)).to.deep.equal({ ok: true, released: 0 });
    expect(s.ack(5)).to.deep.equal({ ok: true, released: 3 });
    expect(s.queue).to.have.length(0);
  });

  it('refuses an h beyond the send count, and one that goes backwards', () => {
    const s = new SmState('id', true, 300, 0);
    s.push(msg(1), 1);
    s.push(msg(2), 2);
    expect(s.ack(3)).to.deep.equal({ ok: false, sent: 2 });
    expect(s.ack(1).ok).to.equal(true);
    expect(s.ack(0)).to.deep.equal({ ok: false, sent: 2 });
    expect(s.queue).to.have.length(1);
  });

  it('wraps at 2^32 (§4: h is reset to zero past 2^32 - 1)', () => {
    const s = new SmState('id', true, 300, 0);
    s.acked = 0xfffffffe;
    for (let i = 1; i <= 4; i++) s.push(msg(i), i);
    expect(s.sent).to.equal(2);
    expect(s.ack(0xffffffff)).to.deep.equal({ ok: true, released: 1 });
    expect(s.ack(1)).to.deep.equal({ ok: true, released: 2 });
    expect(s.queue.map((m) => m.attrs.id)).to.deep.equal(['4']);
    expect(new SmState('id', true, 300, 0xffffffff).handled(0x100000001)).to.equal(2);
  });
});
