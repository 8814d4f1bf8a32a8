import { expect } from 'chai';
import { openSession, sleep, tick } from '../../testing/bosh-session.js';
import type { BoshLimits } from './bosh.js';

const MESSAGE = "<message xmlns='jabber:client'><body>hi</body></message>";

/** A short inactivity period, so that a session outliving it is seen to outlive it. */
const LIMITS: BoshLimits = { maxWaitSeconds: 60, inactivitySeconds: 0.2, maxQueuedBytes: 1 << 20, maxPauseSeconds: 120 };

describe('BOSH session pause (XEP-0124 §10)', () => {
  it('answers every open request at once on a pause, without payloads, and gives what waited to the first request after it', async () => {
    const c = openSession({ ...LIMITS, inactivitySeconds: 60 });
    await tick();
    expect(c.created.body!.attrs.maxpause).to.equal('120');
    const held = c.send({ rid: '101' });
    await tick();
    // A message for the client, not yet flushed into the held request, when the client pauses (leaving the page).
    c.session.write(MESSAGE);
    const pause = c.send({ rid: '102', pause: '60' });
    for (const res of [held, pause]) {
      expect(res.answered).to.equal(true);
      expect(res.body!.attrs.type).to.equal(undefined);
      expect(res.body!.children).to.have.length(0);
    }
    // The reloaded page resends the pause it may not have seen answered, then goes on.
    expect(c.send({ rid: '102', pause: '60' }).body!.attrs.type).to.equal(undefined);
    const next = c.send({ rid: '103' });
    await tick();
    expect(next.body!.getChildren('message')).to.have.length(1);
    expect(c.closed()).to.equal(false);
    c.session.destroy();
  });

  it('keeps a paused session past the inactivity period, and ends it when the pause runs out with no request', async () => {
    const c = openSession(LIMITS);
    await tick();
    c.send({ rid: '101' });
    await tick();
    c.send({ rid: '102', pause: '1' });
    await sleep(500);
    expect(c.closed(), 'within the pause').to.equal(false);
    await sleep(800);
    expect(c.closed(), 'after the pause').to.equal(true);
    expect(c.send({ rid: '103' }).body!.attrs).to.include({ type: 'terminate', condition: 'item-not-found' });
  });

  it('goes back to the inactivity period with the first request after a pause', async () => {
    const c = openSession(LIMITS);
    await tick();
    expect(c.send({ rid: '101', pause: '5' }).answered).to.equal(true);
    await sleep(300);
    expect(c.closed(), 'within the pause').to.equal(false);
    // The client is back, then drops its request (a closed laptop): the gap that follows is the normal one.
    c.send({ rid: '102' }).drop();
    await sleep(400);
    expect(c.closed()).to.equal(true);
  });

  it('ends the session with policy-violation on a pause longer than maxpause, and bad-request on one that is no number of seconds', async () => {
    for (const [pause, condition] of [['121', 'policy-violation'], ['soon', 'bad-request']] as const) {
      const c = openSession({ ...LIMITS, inactivitySeconds: 60 });
      await tick();
      const held = c.send({ rid: '101' });
      await tick();
      const refused = c.send({ rid: '102', pause }, MESSAGE);
      for (const res of [refused, held]) expect(res.body!.attrs, pause).to.include({ type: 'terminate', condition });
      expect(c.input.some((s) => s.startsWith('<message')), 'the payload of the request refused is not taken').to.equal(false);
      expect(c.closed()).to.equal(true);
    }
  });

  it('takes a pause as the one request more than requests=2 that §11 allows', async () => {
    const c = openSession({ ...LIMITS, inactivitySeconds: 60 });
    await tick();
    const held = c.send({ rid: '101' });
    await tick();
    // The server reads slowly (c2s paused): 102 is not taken, so 101 is not freed when the pause comes.
    c.session.pause();
    const payload = c.send({ rid: '102' }, MESSAGE);
    const pause = c.send({ rid: '103', pause: '60' });
    expect(pause.answered).to.equal(false);
    c.session.resume();
    for (const res of [held, payload, pause]) expect(res.body!.attrs.type).to.equal(undefined);
    expect(c.closed()).to.equal(false);
    c.session.destroy();
  });
});
