import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Sori } from '../../sori.js';
import { MemoryStore } from '../../storage/memory/index.js';
import { eventually } from '../../testing/eventually.js';
import { TestCa, type Pem } from '../../testing/test-ca.js';
import { startTestSori } from '../../testing/test-sori.js';

const HOST = '127.0.0.1';

/** The SHA-256 fingerprint of the certificate a TLS handshake on `socket` (or a new connection to `port`) shows. */
function certificateOf(port: number, socket?: Socket): Promise<string> {
  return new Promise((ok, fail) => {
    const s: TLSSocket = tlsConnect({ host: HOST, port, socket, servername: 'localhost', rejectUnauthorized: false }, () => {
      const fingerprint = s.getPeerX509Certificate()?.fingerprint256 ?? '';
      s.destroy();
      ok(fingerprint);
    });
    s.once('error', fail);
  });
}

/** The certificate STARTTLS on a c2s (`jabber:client`) or s2s (`jabber:server`) port shows. */
function certificateAfterStartTls(port: number, ns: 'jabber:client' | 'jabber:server'): Promise<string> {
  return new Promise((ok, fail) => {
    const raw = netConnect(port, HOST, () => {
      raw.write(`<?xml version='1.0'?><stream:stream xmlns='${ns}' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`);
    });
    let seen = '';
    const onData = (d: Buffer): void => {
      seen += d.toString();
      if (seen.includes('</stream:features>') && !seen.includes('<starttls-sent/>')) {
        seen += '<starttls-sent/>';
        raw.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
      }
      if (seen.includes('<proceed')) {
        raw.off('data', onData);
        certificateOf(port, raw).then(ok, fail);
      }
    };
    raw.on('data', onData);
    raw.once('error', fail);
  });
}

const fingerprint = (pem: Pem): string => new X509Certificate(pem.cert).fingerprint256;

describe('TLS certificate reload (a renewed certificate without a restart)', function () {
  this.timeout(60_000);
  let dir: string;
  let first: Pem;
  let renewed: Pem;
  const write = (pem: Pem): void => {
    writeFileSync(join(dir, 'cert.pem'), pem.cert);
    writeFileSync(join(dir, 'key.pem'), pem.key, { mode: 0o600 });
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sori-tls-reload-'));
    first = TestCa.selfSigned(['localhost']);
    renewed = TestCa.selfSigned(['localhost']);
  });

  describe('in process (startSori)', () => {
    let sori: Sori;
    before(async () => {
      write(first);
      sori = await startTestSori(
        {
          c2s: { directTlsPort: 5223 },
          websocket: { tlsPort: 5443 },
          tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') },
          s2s: { enabled: true, port: 5269, directTlsPort: 5270 },
        },
        { store: new MemoryStore() },
      );
    });
    after(() => sori.stop());

    const everyListener = async (): Promise<string[]> => {
      const p = sori.listening.ports;
      const s2s = sori.s2s!.ports;
      return Promise.all([
        certificateAfterStartTls(p.c2s!, 'jabber:client'),
        certificateOf(p['c2s-tls']!),
        certificateOf(p.wss!),
        certificateAfterStartTls(s2s.s2s!, 'jabber:server'),
        certificateOf(s2s['s2s-tls']!),
      ]);
    };

    it('serves the renewed certificate on every listener once reloaded, and keeps the old one when the new files do not match', async () => {
      expect(await everyListener()).to.deep.equal(Array(5).fill(fingerprint(first)));
      write(renewed);
      await sori.reloadTls();
      expect(await everyListener()).to.deep.equal(Array(5).fill(fingerprint(renewed)));
      // A key that does not belong to the certificate (a renewal half copied): refused, the working pair stays.
      writeFileSync(join(dir, 'key.pem'), first.key);
      let refused: unknown;
      await sori.reloadTls().catch((e: unknown) => (refused = e));
      expect(refused).to.be.instanceOf(Error);
      expect(await everyListener()).to.deep.equal(Array(5).fill(fingerprint(renewed)));
      write(first);
    });
  });

  describe('on SIGHUP (src/main.ts)', () => {
    let child: ChildProcess | undefined;
    after(() => {
      child?.kill('SIGKILL');
    });

    const freePort = (): Promise<number> =>
      new Promise((ok) => {
        const srv = createNetServer();
        srv.listen(0, HOST, () => {
          const { port } = srv.address() as AddressInfo;
          srv.close(() => ok(port));
        });
      });

    it('reloads the certificate and keeps running', async () => {
      write(first);
      const dataDir = mkdtempSync(join(tmpdir(), 'sori-sighup-'));
      const port = await freePort();
      const configFile = join(dataDir, 'sori.json');
      writeFileSync(configFile, JSON.stringify({
        server: { dataDir, bind: HOST, logLevel: 'warn' },
        c2s: { port: 0, directTlsPort: port },
        websocket: { port: 0, tlsPort: 0 },
        tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') },
      }));
      const root = resolve(import.meta.dirname, '../../..');
      const proc = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'main.ts'), '--config', configFile], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
      child = proc;
      let exited = false;
      proc.once('exit', () => (exited = true));
      await eventually(async () => expect(await certificateOf(port)).to.equal(fingerprint(first)), 30_000);
      write(renewed);
      proc.kill('SIGHUP');
      await eventually(async () => expect(await certificateOf(port)).to.equal(fingerprint(renewed)), 10_000);
      // Node's default for SIGHUP is to end the process.
      expect(exited).to.equal(false);
    });
  });
});
