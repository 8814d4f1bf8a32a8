import { expect } from 'chai';
import { x } from '../../util/xml.js';
import type { Transport } from '../transport/transport.js';
import { C2sOutput } from './c2s-output.js';

/** A WebSocket-like transport (RFC 7395 framing) that keeps what is written. */
function framedTransport(written: string[]): Transport {
  const unused = (): never => {
    throw new Error('not used here');
  };
  const transport: Transport = {
    kind: 'websocket',
    framed: true,
    secure: false,
    canStartTls: false,
    remoteAddress: '127.0.0.1',
    start: unused,
    write: (data: string) => void written.push(data),
    startTls: unused,
    channelBindingTypes: () => [],
    channelBinding: () => null,
    pause: unused,
    resume: unused,
    end: unused,
    destroy: unused,
  };
  return transport;
}

describe('C2sOutput over RFC 7395 framing', () => {
  it('declares jabber:client on each stanza without taking the children of the element it was given', () => {
    const written: string[] = [];
    const output = new C2sOutput(framedTransport(written));
    // A stanza kept elsewhere (a session's stored presence) and written as it is.
    const kept = x('presence', { from: 'a@b/r' }, x('show', null, 'away'));
    output.element(kept);
    expect(written).to.deep.equal(['<presence xmlns="jabber:client" from="a@b/r"><show>away</show></presence>']);
    expect(kept.attrs.xmlns).to.equal(undefined);
    expect(kept.getChild('show')!.parent).to.equal(kept);
  });
});
