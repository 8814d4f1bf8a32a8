import { expect } from 'chai';
import type { ServerResponse } from 'node:http';
import { bodyOf as body, RecordedResponse, sleep, tick } from '../../testing/bosh-session.js';
import { parseXml } from '../stream/parse-xml.js';
import { BoshSession, type BoshLimits } from './bosh.js';

const MESSAGE = "<message xmlns='jabber:client'><body>hi</body></message>";

describe('BOSH session (XEP-0124, XEP-0206)', () => {
  let input: string[];
  let closed: boolean;
  let gone: boolean;
  let overflows: number;

  function open(limits: BoshLimits = { maxWaitSeconds: 60, inactivitySeconds: 60, maxQueuedBytes: 1 << 20, maxPauseSeconds: 120 }, wait = '30', hold = '2'): { session: BoshSession; created: RecordedResponse } {
    input = [];
    closed = false;
    gone = false;
    overflows = 0;
    const creation = body({ rid: '100', to: 'localhost', wait, hold, 'xmpp:version': '1.0' });
    const session = new BoshSession(creation, '127.0.0.1', false, limits, () => (gone = true), () => overflows++);
    session.start((chunk) => {
      input.push(chunk);
      // What a c2s stream does on the opening: its header, then features.
      if (chunk.startsWith('<open')) {
        session.openStream({ id: 'stream-1', from: 'localhost' });
        session.write(`<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></stream:features>`);
      }
    }, () => (closed = true));
    const created = new RecordedResponse();
    session.create(creation, created as unknown as ServerResponse);
    return { session, created };
  }

  function send(session: BoshSession, attrs: Record<string, string>, payload = ''): RecordedResponse {
    const res = new RecordedResponse();
    session.request(body({ sid: session.sid, ...attrs }, payload), res as unknown as ServerResponse);
    return res;
  }

  it('answers the creation request with the session attributes and the stream features', async () => {
    const { session, created } = open({ maxWaitSeconds: 20, inactivitySeconds: 60, maxQueuedBytes: 1 << 20, maxPauseSeconds: 120 }, '45');
    await tick();
    expect(input[0]).to.match(/^<open xmlns=.urn:ietf:params:xml:ns:xmpp-framing. to=.localhost. version=.1\.0./);
    const b = created.body!;
    expect(b.attrs).to.include({ sid: session.sid, wait: '20', requests: '2', hold: '1', inactivity: '60', maxpause: '120', authid: 'stream-1', from: 'localhost', 'xmpp:version': '1.0', secure: 'false' });
    expect(b.getChild('stream:features')?.getChild('mechanisms')).to.not.equal(undefined);
  });

  it('answers with the client\'s BOSH version when it is lower than ours, compared number by number (§7.2)', () => {
    const versionFor = (ver: string): string | undefined => {
      const creation = body({ rid: '1', to: 'localhost', ver });
      const session = new BoshSession(creation, '127.0.0.1', false, { maxWaitSeconds: 60, inactivitySeconds: 60, maxQueuedBytes: 1 << 20, maxPauseSeconds: 120 }, () => undefined);
      session.start(() => undefined, () => undefined);
      const created = new RecordedResponse();
      session.create(creation, created as unknown as ServerResponse);
      session.destroy();
      return created.body!.attrs.ver;
    };
    // Strophe.js (Converse.js) asks for 1.6.
    expect(['1.6', '1.11', '1.12', '2.0', 'x'].map(versionFor)).to.deep.equal(['1.6', '1.11', '1.11', '1.11', '1.11']);
  });

  it('holds no more requests than the client asked for: hold=0 polls, answered at once (§7.1)', async () => {
    const { session, created } = open(undefined, '30', '0');
    await tick();
    expect(created.body!.attrs.hold).to.equal('0');
    const poll = send(session, { rid: '101' });
    await tick();
    expect(poll.body).to.not.equal(undefined);
  });

  it('answers a polling client\'s creation request with its stream id and features too (XEP-0206 §3, XEP-0124 §12)', async () => {
    for (const [wait, hold] of [['30', '0'], ['0', '1']] as const) {
      const { session, created } = open(undefined, wait, hold);
      await tick();
      expect(created.body!.attrs, `wait=${wait} hold=${hold}`).to.include({ sid: session.sid, wait, hold, requests: '2', polling: '1', inactivity: '62', authid: 'stream-1', from: 'localhost' });
      expect(created.body!.getChild('stream:features')?.getChild('mechanisms')).to.not.equal(undefined);
      // The next poll is answered at once, empty: the features came once.
      const poll = send(session, { rid: '101' });
      await sleep(10);
      expect(poll.body!.children).to.have.length(0);
      session.destroy();
    }
  });

  it('hands payloads over in rid order whatever order the requests arrive in', async () => {
    const { session } = open();
    await tick();
    const later = send(session, { rid: '102' }, "<message xmlns='jabber:client' to='a@localhost'><body>2</body></message>");
    expect(input).to.have.length(1);
    send(session, { rid: '101' }, "<message to='a@localhost'><body>1</body></message>");
    expect(input.slice(1).map((s) => parseXml(s).getChildText('body'))).to.deep.equal(['1', '2']);
    // A stanza without a namespace is a jabber:client stanza, not one in the body's namespace.
    expect(parseXml(input[1]!).attrs.xmlns).to.equal('jabber:client');
    // Two requests out and one may be held: the older (101) was answered at once, 102 is held.
    await tick();
    expect(later.answered).to.equal(false);
  });

  it('answers the held request as soon as there is something to send, and resends an answer the client missed', async () => {
    const { session } = open();
    await tick();
    const held = send(session, { rid: '101' });
    await tick();
    expect(held.answered).to.equal(false);
    session.write("<message xmlns='jabber:client'><body>hi</body></message>");
    session.write("<message xmlns='jabber:client'><body>again</body></message>");
    await tick();
    expect(held.body!.getChildren('message').map((m) => m.getChildText('body'))).to.deep.equal(['hi', 'again']);
    const resent = send(session, { rid: '101' });
    expect(resent.body!.toString()).to.equal(held.body!.toString());
  });

  it('answers an empty body when the wait runs out', async () => {
    const { session } = open({ maxWaitSeconds: 1, inactivitySeconds: 60, maxQueuedBytes: 1 << 20, maxPauseSeconds: 120 });
    await tick();
    const held = send(session, { rid: '101' });
    await sleep(1100);
    expect(held.answered).to.equal(true);
    expect(held.body!.children).to.have.length(0);
    expect(held.body!.attrs.type).to.equal(undefined);
  });

  it('terminates a session whose client sends a rid outside its window (item-not-found)', async () => {
    const { session } = open();
    await tick();
    const far = send(session, { rid: '150' });
    expect(far.body!.attrs).to.include({ type: 'terminate', condition: 'item-not-found' });
    expect(closed).to.equal(true);
    expect(gone).to.equal(true);
    expect(send(session, { rid: '101' }).body!.attrs).to.include({ type: 'terminate', condition: 'item-not-found' });
  });

  it('ends the session when a resent request\'s response is no longer known, as the item-not-found it answers says (§14.3)', async () => {
    const { session } = open();
    await tick();
    for (const rid of ['101', '102', '103', '104']) {
      send(session, { rid });
      await tick();
    }
    // Each request freed the one before it, and only the last two answers (102, 103) are kept.
    const resent = send(session, { rid: '101' });
    expect(resent.body!.attrs).to.include({ type: 'terminate', condition: 'item-not-found' });
    expect(closed, 'the stream is ended with the session the client was told is gone').to.equal(true);
    expect(gone).to.equal(true);
  });

  it('holds again a request resent after its connection broke before it was answered (§14.3)', async () => {
    const { session } = open();
    await tick();
    const held = send(session, { rid: '101' });
    await tick();
    // The client's connection broke before the answer came (a proxy's timeout): it resends the same rid.
    held.drop();
    const resent = send(session, { rid: '101' });
    await tick();
    expect(resent.answered).to.equal(false);
    session.write("<message xmlns='jabber:client'><body>hi</body></message>");
    await tick();
    expect(resent.body!.getChild('message')?.getChildText('body')).to.equal('hi');
    expect(closed).to.equal(false);
  });

  it('answers a resent request before a newer one held since, in rid order', async () => {
    const { session } = open();
    await tick();
    const held = send(session, { rid: '101' });
    await tick();
    held.drop();
    const newer = send(session, { rid: '102' });
    await tick();
    const resent = send(session, { rid: '101' });
    await tick();
    // Two held where one may be: the older rid is answered, the newer stays for what comes next.
    expect(resent.answered).to.equal(true);
    expect(newer.answered).to.equal(false);
  });

  it('holds a resent request in place of the held one when it comes before the broken connection\'s close is seen', async () => {
    const { session } = open();
    await tick();
    const held = send(session, { rid: '101' });
    await tick();
    const resent = send(session, { rid: '101' });
    await tick();
    expect(held.destroyed).to.equal(true);
    expect(resent.answered).to.equal(false);
    // A payload beside the held request frees it.
    send(session, { rid: '102' }, MESSAGE);
    await tick();
    expect(resent.body!.attrs.type).to.equal(undefined);
  });

  it('ends the stream on a terminate request, and reports a stream error as remote-stream-error', async () => {
    const { session } = open();
    await tick();
    const res = send(session, { rid: '101', type: 'terminate' }, "<presence type='unavailable'/>");
    expect(input.slice(-2)).to.satisfy((l: string[]) => l[0]!.startsWith('<presence') && l[1]!.startsWith('<close'));
    // The c2s stream closes in turn.
    session.closeStream();
    session.end();
    await tick();
    expect(res.body!.attrs.type).to.equal('terminate');
    expect(res.body!.attrs.condition).to.equal(undefined);
    expect(closed).to.equal(true);

    const other = open();
    await tick();
    const pending = send(other.session, { rid: '101' });
    other.session.write("<stream:error xmlns:stream='http://etherx.jabber.org/streams'><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
    other.session.closeStream();
    other.session.end();
    await tick();
    expect(pending.body!.attrs).to.include({ type: 'terminate', condition: 'remote-stream-error' });
    expect(pending.body!.getChild('stream:error')).to.not.equal(undefined);
    expect(closed).to.equal(true);
  });

  it('ends a session that has had no request open for the inactivity period', async () => {
    const { session } = open({ maxWaitSeconds: 60, inactivitySeconds: 0.2, maxQueuedBytes: 1 << 20, maxPauseSeconds: 120 });
    await tick();
    const held = send(session, { rid: '101' });
    await sleep(300);
    expect(closed, 'a held request keeps the session alive').to.equal(false);
    // The client drops the request (a closed laptop): from then on the inactivity clock runs.
    held.drop();
    await sleep(300);
    expect(closed).to.equal(true);
  });

  it('does not end a session whose only open request waits for a lost one before it (§10: every request answered)', async () => {
    const { session } = open({ maxWaitSeconds: 60, inactivitySeconds: 0.2, maxQueuedBytes: 1 << 20, maxPauseSeconds: 120 });
    await tick();
    // 101 (empty, to be held) is delayed on the way; 102, a payload sent beside it, waits for it.
    const waiting = send(session, { rid: '102' }, MESSAGE);
    await sleep(300);
    expect(closed, 'a request waiting in the server keeps the session alive').to.equal(false);
    send(session, { rid: '101' });
    await tick();
    expect(waiting.answered).to.equal(false);
    expect(closed).to.equal(false);

    // The client gives up on the waiting request: from then on the inactivity clock runs.
    const other = open({ maxWaitSeconds: 60, inactivitySeconds: 0.2, maxQueuedBytes: 1 << 20, maxPauseSeconds: 120 });
    await tick();
    send(other.session, { rid: '102' }).drop();
    await sleep(300);
    expect(closed).to.equal(true);
  });

  it('terminates a polling session whose client sends empty requests faster than polling allows (§12)', async () => {
    const polling = open(undefined, '30', '0');
    await tick();
    const first = send(polling.session, { rid: '101' });
    await tick();
    expect(first.body!.children).to.have.length(0);
    // A request with payload, then an empty one after it, are within the rules.
    send(polling.session, { rid: '102' }, "<presence xmlns='jabber:client'/>");
    await tick();
    const afterPayload = send(polling.session, { rid: '103' });
    await tick();
    expect(afterPayload.body!.attrs.type).to.equal(undefined);
    // Two empty ones in a row, the first answered with nothing, within a second.
    const tooSoon = send(polling.session, { rid: '104' });
    expect(tooSoon.body!.attrs).to.include({ type: 'terminate', condition: 'policy-violation' });
    expect(closed).to.equal(true);
  });

  it('terminates a session whose client has more requests open than requests=2 (§11): every open request gets policy-violation', async () => {
    const { session } = open();
    await tick();
    const held = send(session, { rid: '101' });
    await tick();
    // 103 comes ahead of 102 and waits for it; 102 makes three at once, none answered.
    const ahead = send(session, { rid: '103' });
    const third = send(session, { rid: '102' }, "<message xmlns='jabber:client' to='a@localhost'><body>x</body></message>");
    for (const res of [third, held, ahead]) expect(res.body!.attrs).to.include({ type: 'terminate', condition: 'policy-violation' });
    expect(input.some((s) => s.startsWith('<message')), 'the payload of the request refused is not taken').to.equal(false);
    expect(closed, 'the c2s stream is told its transport is gone').to.equal(true);
    expect(gone).to.equal(true);
    expect(send(session, { rid: '104' }).body!.attrs).to.include({ type: 'terminate', condition: 'item-not-found' });
  });

  it('takes a terminate as the one request more than requests=2 that §11 allows', async () => {
    const { session } = open();
    await tick();
    const held = send(session, { rid: '101' });
    await tick();
    // The server reads slowly (c2s paused): 102 is not taken, so 101 is not freed.
    session.pause();
    send(session, { rid: '102' }, MESSAGE);
    const terminate = send(session, { rid: '103', type: 'terminate' }, "<presence type='unavailable'/>");
    expect(terminate.answered).to.equal(false);
    expect(held.answered).to.equal(false);
    session.resume();
    expect(input.slice(-3).map((s) => s.slice(0, 9))).to.deep.equal(['<message ', '<presence', '<close xm']);
    expect(closed).to.equal(false);
  });

  it('terminates a holding session whose client sends an empty request beside the held one within polling (§11), with what waits for it left to a dead connection\'s fate', async () => {
    const { session } = open();
    await tick();
    const held = send(session, { rid: '101' });
    await tick();
    // A message for the client, not yet flushed into the held request, when an empty request comes beside it.
    session.write(MESSAGE);
    const empty = send(session, { rid: '102' });
    for (const res of [empty, held]) {
      expect(res.body!.attrs).to.include({ type: 'terminate', condition: 'policy-violation' });
      expect(res.body!.children).to.have.length(0);
    }
    // Closed as a lost connection (not a stream the client ended): stream management requeues the message.
    expect(closed).to.equal(true);
    expect(gone).to.equal(true);
  });

  it('never cuts off a client that keeps to Strophe.js\'s pattern with hold=1: an empty request only with none out, payloads beside the held one (§11, §12)', async () => {
    const { session } = open();
    await tick();
    let rid = 100;
    const sent: RecordedResponse[] = [];
    const outstanding = (): number => sent.filter((r) => !r.answered).length;
    // Every step well within a polling interval of the last: the rules' timing is met at each one.
    for (let step = 0; step < 40; step++) {
      if (outstanding() === 0) sent.push(send(session, { rid: String(++rid) }));
      else if (step % 3 !== 2 && outstanding() < 2) sent.push(send(session, { rid: String(++rid) }, MESSAGE));
      // The server has something for the client now and then, which frees the held request.
      if (step % 5 === 4) session.write(MESSAGE);
      await tick();
    }
    const answered = sent.filter((r) => r.answered);
    expect(answered, 'requests answered').to.have.length.greaterThan(20);
    expect(answered.map((r) => r.body!.attrs.type ?? 'ok')).to.deep.equal(answered.map(() => 'ok'));
    expect(sent.filter((r) => r.body !== null && r.body.attrs.type === undefined && r.body.children.length === 0), 'empty answers: requests freed by a newer one').to.have.length.greaterThan(5);
    expect(closed).to.equal(false);
  });

  it('ends a session whose output for a client with no request open passes maxQueuedBytes, as a dead connection, reporting it once', async () => {
    const { session } = open({ maxWaitSeconds: 60, inactivitySeconds: 60, maxQueuedBytes: 4096, maxPauseSeconds: 120 });
    await tick();
    const stanza = `<message xmlns='jabber:client'><body>${'x'.repeat(3000)}</body></message>`;
    session.write(stanza);
    await tick();
    expect(closed).to.equal(false);
    session.write(stanza);
    session.write(stanza);
    await tick();
    expect(closed, 'the c2s stream is told its transport is gone').to.equal(true);
    expect(gone).to.equal(true);
    expect(overflows).to.equal(1);
    expect(send(session, { rid: '101' }).body!.attrs).to.include({ type: 'terminate', condition: 'item-not-found' });

    // With a request held, the same output leaves at once.
    const other = open({ maxWaitSeconds: 60, inactivitySeconds: 60, maxQueuedBytes: 4096, maxPauseSeconds: 120 });
    await tick();
    const held = send(other.session, { rid: '101' });
    await tick();
    for (let i = 0; i < 3; i++) other.session.write(stanza);
    await tick();
    expect(held.body!.getChildren('message')).to.have.length(3);
    expect(closed).to.equal(false);
  });
});
