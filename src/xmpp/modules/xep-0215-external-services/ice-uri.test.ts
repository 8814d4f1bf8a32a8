import { expect } from 'chai';
import { parseIceUri } from './ice-uri.js';

describe('STUN/TURN URIs (RFC 7064, RFC 7065)', () => {
  it('takes the default port and transport of each scheme', () => {
    expect(parseIceUri('stun:stun.example.org')).to.deep.equal({ type: 'stun', host: 'stun.example.org', port: 3478, transport: 'udp' });
    expect(parseIceUri('stuns:stun.example.org')).to.deep.equal({ type: 'stuns', host: 'stun.example.org', port: 5349, transport: 'tcp' });
    expect(parseIceUri('turn:turn.example.org')).to.deep.equal({ type: 'turn', host: 'turn.example.org', port: 3478, transport: 'udp' });
    expect(parseIceUri('turns:turn.example.org')).to.deep.equal({ type: 'turns', host: 'turn.example.org', port: 5349, transport: 'tcp' });
  });

  it('reads ports, transports and IP literals', () => {
    expect(parseIceUri('turn:192.0.2.7:3479?transport=tcp')).to.deep.equal({ type: 'turn', host: '192.0.2.7', port: 3479, transport: 'tcp' });
    expect(parseIceUri('TURNS:[2001:db8::1]:443?transport=TCP')).to.deep.equal({ type: 'turns', host: '2001:db8::1', port: 443, transport: 'tcp' });
    expect(parseIceUri('stun:[2001:db8::1]')).to.deep.equal({ type: 'stun', host: '2001:db8::1', port: 3478, transport: 'udp' });
  });

  it('refuses what is not one, saying why', () => {
    expect(() => parseIceUri('https://turn.example.org')).to.throw(/not a stun:, stuns:, turn: or turns: URI/);
    expect(() => parseIceUri('turn:turn.example.org:99999')).to.throw(/port must be 1-65535/);
    expect(() => parseIceUri('turn:turn.example.org:x')).to.throw(/port must be/);
    expect(() => parseIceUri('stun:stun.example.org?transport=tcp')).to.throw(/only turn: and turns: URIs take a query/);
    expect(() => parseIceUri('turn:turn.example.org?transport=sctp')).to.throw(/only \?transport=udp or \?transport=tcp/);
    expect(() => parseIceUri('turn:user@turn.example.org')).to.throw(/is not a host name/);
    expect(() => parseIceUri('turn:')).to.throw(/is not a host name/);
  });
});
