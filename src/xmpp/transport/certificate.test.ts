import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import { connect, TLSSocket, type ConnectionOptions } from 'node:tls';
import { createLogger } from '../../util/log.js';
import { loadCredentials, type TlsCredentials } from './certificate.js';

/** What a client with `options` negotiates with a listener that wraps sockets the way STARTTLS does (the credentials' context). */
async function negotiate(server: Server, options: ConnectionOptions): Promise<{ protocol: string | null; cipher: string }> {
  const port = (server.address() as { port: number }).port;
  return new Promise((resolve, reject) => {
    const client = connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...options }, () => {
      resolve({ protocol: client.getProtocol(), cipher: client.getCipher().name });
      client.end();
    });
    client.on('error', reject);
  });
}

describe('TLS settings of the listeners', () => {
  let directory: string;
  let credentials: TlsCredentials;
  let server: Server;

  before(async () => {
    directory = mkdtempSync(join(tmpdir(), 'sori-tls-'));
    credentials = await loadCredentials({ dir: directory, hosts: ['example.test'], log: createLogger('test'), baseDir: directory });
    server = createServer((socket) => {
      const secure = new TLSSocket(socket, { isServer: true, secureContext: credentials.context });
      secure.on('error', () => socket.destroy());
      secure.on('secure', () => secure.end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  after(() => {
    server.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('gives a client that lists AES-256 first (Node, OpenSSL defaults) AES-128-GCM with SHA-256', async () => {
    expect(await negotiate(server, {})).to.deep.equal({ protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' });
  });

  it('gives a client that lists ChaCha20 first (no AES instructions) ChaCha20', async () => {
    const ciphers = 'TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256';
    expect(await negotiate(server, { ciphers })).to.deep.equal({ protocol: 'TLSv1.3', cipher: 'TLS_CHACHA20_POLY1305_SHA256' });
  });

  it('serves TLS 1.2 clients with a forward-secret AEAD suite and refuses TLS 1.1', async () => {
    const tls12 = await negotiate(server, { maxVersion: 'TLSv1.2' });
    expect(tls12.protocol).to.equal('TLSv1.2');
    expect(tls12.cipher).to.match(/^ECDHE-RSA-AES(128|256)-GCM-SHA(256|384)$/);
    let refused: Error | undefined;
    await negotiate(server, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' }).catch((error: Error) => (refused = error));
    expect(refused?.message, 'a TLS 1.1 handshake fails').to.match(/protocol|version/i);
  });
});
