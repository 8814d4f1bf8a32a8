import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../config.js';
import { startSori, type Sori } from '../../../sori.js';
import { MemoryStore } from '../../../storage/memory/index.js';
import { loginOn, type TestClient } from '../../../testing/harness.js';
import { getLogLevel, setLogLevel } from '../../../util/log.js';
import { NS_UPLOAD } from './index.js';

const HOUR_MS = 3600_000;

/**
 * The upload service over sori's real HTTP listener (100 Continue is decided there), as phones and
 * browsers use it: Expect, conditional and resumed downloads, expiry, and what an abandoned PUT logs.
 */
describe('XEP-0363 HTTP upload: the HTTP side', () => {
  let sori: Sori;
  let alice: TestClient;
  let dataDir: string;
  let dir: string;
  let origin: string;

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sori-upload-http-'));
    dir = join(dataDir, 'uploads');
    const config = loadConfig({
      env: {},
      overrides: {
        server: { dataDir, logLevel: 'error' },
        storage: { backend: 'memory' },
        modules: { options: { upload: { dir, urlBase: 'http://127.0.0.1/upload/', fileExpirySeconds: 3600 } } },
      },
    });
    sori = await startSori(config, { ephemeralPorts: true, store: new MemoryStore() });
    origin = `http://127.0.0.1:${sori.listening.ports.ws!}`;
    alice = await loginOn(sori.server, 'alice@localhost/phone');
  });
  afterEach(async () => {
    await sori.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** A slot for `filename`, its URLs pointed at the test's listener (urlBase names no port). */
  async function slot(filename: string, size: number, type = 'application/octet-stream'): Promise<{ url: string; path: string; auth: string }> {
    const r = await alice.iq(`<iq type='get' to='upload.localhost'><request xmlns='${NS_UPLOAD}' filename="${filename}" size='${size}' content-type='${type}'/></iq>`);
    expect(r.attrs.type, r.toString()).to.equal('result');
    const put = r.getChild('slot', NS_UPLOAD)!.getChild('put')!;
    const path = new URL(put.attrs.url!).pathname;
    return { url: `${origin}${path}`, path, auth: put.getChild('header')!.getText() };
  }

  async function uploaded(filename: string, body: string): Promise<string> {
    const s = await slot(filename, body.length);
    expect((await fetch(s.url, { method: 'PUT', body, headers: { authorization: s.auth, 'content-type': 'application/octet-stream' } })).status).to.equal(201);
    return s.url;
  }

  /**
   * A PUT with `Expect: 100-continue` as curl and Android's HTTP stacks send it: headers only, the body only
   * once 100 Continue arrives. What the server sent, all of it, once it closes the connection.
   */
  function putExpecting(path: string, authorization: string, length: number, body: string): Promise<string> {
    return new Promise((resolve) => {
      const socket = connect({ port: sori.listening.ports.ws!, host: '127.0.0.1' });
      let answer = '';
      socket.on('data', (d) => {
        answer += d.toString();
        if (answer === 'HTTP/1.1 100 Continue\r\n\r\n') socket.write(body);
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve(answer));
      socket.write(`PUT ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
    });
  }

  it('answers Expect: 100-continue only once the token, length and type are checked; a refused PUT gets its error and no 100', async () => {
    const s = await slot('clip.mp4', 3);
    for (const [auth, length, status] of [['Bearer nope', 3, '403 Forbidden'], [s.auth, 400_000_000, '413 Payload Too Large'], [s.auth, 2, '400 Bad Request']] as const) {
      const answer = await putExpecting(s.path, auth, length, 'abc');
      expect(answer.split('\r\n')[0], status).to.equal(`HTTP/1.1 ${status}`);
      expect(answer).not.to.include('100 Continue');
    }
    const accepted = await putExpecting(s.path, s.auth, 3, 'abc');
    expect(accepted).to.match(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 Created\r\n/);
    expect(await (await fetch(s.url)).text()).to.equal('abc');
  });

  it('answers 404 for a file past its expiry at once, before any sweep, and lets no cache keep a file longer', async () => {
    const fresh = await uploaded('fresh.txt', 'abc');
    const ok = await fetch(fresh);
    expect(ok.status).to.equal(200);
    const maxAge = Number(/max-age=(\d+)/.exec(ok.headers.get('cache-control') ?? '')?.[1]);
    expect(maxAge).to.be.within(3500, 3600);
    // Uploaded two hours ago with files kept one: as the store holds it, the sweep not yet run.
    const id = 'expiredFile0000000000000';
    mkdirSync(join(dir, id), { recursive: true });
    writeFileSync(join(dir, id, 'old.txt'), 'abc');
    writeFileSync(join(dir, id, '.meta.json'), JSON.stringify({ size: 3, contentType: 'text/plain', createdMs: Date.now() - 2 * HOUR_MS }));
    expect((await fetch(`${origin}/upload/${id}/old.txt`)).status).to.equal(404);
    expect((await fetch(`${origin}/upload/${id}/old.txt`, { method: 'HEAD' })).status).to.equal(404);
  });

  it('sends a strong ETag, answers If-None-Match with 304 and serves a range only under a matching If-Range', async () => {
    const url = await uploaded('voice.m4a', '0123456789');
    const head = await fetch(url, { method: 'HEAD' });
    const etag = head.headers.get('etag')!;
    expect(etag).to.match(/^"[^"]+"$/);
    expect((await fetch(url)).headers.get('etag')).to.equal(etag);
    // Browsers read it from scripts only if exposed.
    expect(head.headers.get('access-control-expose-headers')).to.match(/\bETag\b/);
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const cached = await fetch(url, { headers: { 'if-none-match': ifNoneMatch } });
      expect(cached.status, ifNoneMatch).to.equal(304);
      expect(cached.headers.get('etag')).to.equal(etag);
      expect(await cached.text()).to.equal('');
    }
    expect((await fetch(url, { headers: { 'if-none-match': '"other"' } })).status).to.equal(200);
    // A resumed download: the rest of the same file, or the whole of another.
    const resumed = await fetch(url, { headers: { range: 'bytes=4-', 'if-range': etag } });
    expect(resumed.status).to.equal(206);
    expect(await resumed.text()).to.equal('456789');
    for (const ifRange of ['"other"', `W/${etag}`, 'Sun, 06 Dec 2026 10:00:00 GMT']) {
      const whole = await fetch(url, { headers: { range: 'bytes=4-', 'if-range': ifRange } });
      expect(whole.status, ifRange).to.equal(200);
      expect(await whole.text()).to.equal('0123456789');
    }
  });

  it("escapes '()!* in slot URLs and serves the file at the URL the slot gave", async () => {
    const s = await slot("it's (1)!*.txt", 3);
    expect(s.path.endsWith('/it%27s%20%281%29%21%2A.txt'), s.path).to.equal(true);
    expect((await fetch(s.url, { method: 'PUT', body: 'abc', headers: { authorization: s.auth, 'content-type': 'application/octet-stream' } })).status).to.equal(201);
    const got = await fetch(s.url);
    expect(got.status).to.equal(200);
    expect(await got.text()).to.equal('abc');
  });

  it('logs an upload the phone abandons half way below error level, and a full disk at error level', async () => {
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    const level = getLogLevel();
    setLogLevel('info');
    process.stderr.write = ((chunk: string | Uint8Array) => (lines.push(chunk.toString()), true)) as typeof process.stderr.write;
    try {
      const dropped = await slot('dropped.bin', 1000);
      const put = httpRequest(dropped.url, { method: 'PUT', headers: { authorization: dropped.auth, 'content-length': '1000' } });
      put.on('error', () => {});
      put.write(Buffer.alloc(500, 7));
      const id = new URL(dropped.url).pathname.split('/')[2]!;
      // The body has reached the server once the store's directory is there; then the phone is gone.
      for (let i = 0; i < 50 && !existsSync(join(dir, id)); i++) await new Promise((r) => setTimeout(r, 20));
      put.destroy();
      for (let i = 0; i < 100 && !lines.some((l) => l.includes(id)); i++) await new Promise((r) => setTimeout(r, 20));
      const aboutDropped = lines.filter((l) => l.includes(id));
      expect(aboutDropped, lines.join('')).to.have.length(1);
      expect(aboutDropped[0]).to.match(/\binfo\b/);
      // A real fault still is an error: every write of this upload fails with ENOSPC.
      const full = await slot('full.bin', 1000);
      const fullId = new URL(full.url).pathname.split('/')[2]!;
      mkdirSync(join(dir, fullId), { recursive: true });
      symlinkSync('/dev/full', join(dir, fullId, 'full.bin.part'));
      expect((await fetch(full.url, { method: 'PUT', body: Buffer.alloc(1000), headers: { authorization: full.auth } })).status).to.equal(500);
      expect(lines.filter((l) => l.includes(fullId)).join('')).to.match(/\berror\b/);
    } finally {
      process.stderr.write = write;
      setLogLevel(level);
    }
  });
});
