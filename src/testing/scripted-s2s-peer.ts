import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Pem } from './test-ca.js';

export interface ScriptedS2sPeer {
  server: Server;
  port: number;
  /** Everything read from the sender over TLS so far. */
  received: () => string;
}

/**
 * A receiving server for outbound s2s tests, as far as tests need it to be
 * real: it answers the sender's stream header with `header` and required
 * STARTTLS, upgrades with `cert`, and from then on hands each chunk read to
 * `script`, which answers (or does not) as the peer under test would. The
 * raw socket is there for a script that kills the connection.
 */
export async function scriptedS2sPeer(cert: Pem, header: string, script: (data: string, secure: TLSSocket, raw: Socket) => void): Promise<ScriptedS2sPeer> {
  let received = '';
  const server = createServer((raw: Socket) => {
    raw.on('error', () => undefined);
    raw.once('data', () => {
      raw.write(header + `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`);
      raw.once('data', () => {
        raw.write(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`);
        const secure = new TLSSocket(raw, { isServer: true, cert: cert.cert, key: cert.key, requestCert: true, rejectUnauthorized: false });
        secure.on('error', () => undefined);
        secure.setEncoding('utf8');
        secure.on('data', (d: string) => {
          received += d;
          script(d, secure, raw);
        });
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, received: () => received };
}
