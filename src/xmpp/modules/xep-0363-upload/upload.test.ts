import { expect } from 'chai';
import { createServer, request as httpRequest, type Server as HttpServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import upload, { NS_UPLOAD } from './index.js';
import { safeFilename } from './slots.js';

const condition = (r: XmlElement) => r.getChild('error')?.elements()[0]?.name;

describe('XEP-0363 HTTP upload', () => {
  let ts: TestServer;
  let alice: TestClient;
  let http: HttpServer;
  let base: string;
  let dir: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sori-upload-'));
    // The module's route served by a plain HTTP server standing in for the WebSocket listener.
    http = createServer((req, res) => {
      const handler = ts.server.registrations.httpRouteFor(req.url ?? '/');
      if (handler !== undefined) return handler(req, res);
      res.writeHead(404).end();
    });
    // As the listeners do: the route decides 100 Continue.
    http.on('checkContinue', (req, res) => {
      ts.server.registrations.continueUnlessDecided(req.url ?? '/', res);
      http.emit('request', req, res);
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/upload/`;
    ts = await TestServer.start([roster, disco, upload], {
      modules: { options: { upload: { dir, urlBase: base, maxFileSize: 1000, quotaBytes: 1500, slotSeconds: 60 } } },
    });
    alice = await ts.login('alice@localhost/one');
  });
  afterEach(async () => {
    await ts.stop();
    await new Promise((r) => http.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const request = (filename: string, size: number, type?: string) =>
    alice.iq(`<iq type='get' to='upload.localhost'><request xmlns='${NS_UPLOAD}' filename='${filename}' size='${size}'${type ? ` content-type='${type}'` : ''}/></iq>`);

  function slotOf(reply: XmlElement): { put: string; get: string; auth: string } {
    expect(reply.attrs.type, reply.toString()).to.equal('result');
    const slot = reply.getChild('slot', NS_UPLOAD)!;
    const put = slot.getChild('put')!;
    return { put: put.attrs.url!, get: slot.getChild('get')!.attrs.url!, auth: put.getChild('header')!.getText() };
  }

  it('is listed in the server disco#items and answers disco#info with identity, feature and max-file-size', async () => {
    const items = await alice.iq(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`);
    expect(items.getChild('query')!.getChildren('item').map((i) => i.attrs.jid)).to.include('upload.localhost');
    const info = await alice.iq(`<iq type='get' to='upload.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(info.attrs.from).to.equal('upload.localhost');
    const q = info.getChild('query')!;
    expect(q.getChild('identity')!.attrs).to.include({ category: 'store', type: 'file' });
    expect(q.getChildren('feature').map((f) => f.attrs.var)).to.include(NS_UPLOAD);
    const field = q.getChild('x', 'jabber:x:data')!.getChildren('field').find((f) => f.attrs.var === 'max-file-size')!;
    expect(field.getChildText('value')).to.equal('1000');
  });

  it('grants a slot; PUT with the token stores the bytes; GET returns them with the content type', async () => {
    const s = slotOf(await request('photo one.jpg', 5, 'image/jpeg'));
    expect(s.put.startsWith(base)).to.equal(true);
    expect(s.put).to.equal(s.get);
    expect(s.put.endsWith('/photo%20one.jpg')).to.equal(true);
    const body = Buffer.from([1, 2, 3, 4, 5]);
    const put = await fetch(s.put, { method: 'PUT', body, headers: { authorization: s.auth, 'content-type': 'image/jpeg' } });
    expect(put.status).to.equal(201);
    const got = await fetch(s.get);
    expect(got.status).to.equal(200);
    expect(got.headers.get('content-type')).to.equal('image/jpeg');
    expect(got.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(Buffer.from(await got.arrayBuffer())).to.deep.equal(body);
    // One upload per slot: the slot is gone once used.
    const again = await fetch(s.put, { method: 'PUT', body, headers: { authorization: s.auth, 'content-type': 'image/jpeg' } });
    expect(again.status).to.equal(403);
    expect(Buffer.from(await (await fetch(s.get)).arrayBuffer())).to.deep.equal(body);
  });

  it('refuses PUTs without the token, of another size or another content type', async () => {
    const s = slotOf(await request('a.txt', 3, 'text/plain'));
    expect((await fetch(s.put, { method: 'PUT', body: 'abc', headers: { 'content-type': 'text/plain' } })).status).to.equal(403);
    expect((await fetch(s.put, { method: 'PUT', body: 'abc', headers: { authorization: 'Bearer nope', 'content-type': 'text/plain' } })).status).to.equal(403);
    expect((await fetch(s.put, { method: 'PUT', body: 'abcd', headers: { authorization: s.auth, 'content-type': 'text/plain' } })).status).to.equal(413);
    expect((await fetch(s.put, { method: 'PUT', body: 'ab', headers: { authorization: s.auth, 'content-type': 'text/plain' } })).status).to.equal(400);
    expect((await fetch(s.put, { method: 'PUT', body: 'abc', headers: { authorization: s.auth, 'content-type': 'text/html' } })).status).to.equal(415);
    expect((await fetch(s.get)).status).to.equal(404);
    // The failed attempts did not use the slot up.
    expect((await fetch(s.put, { method: 'PUT', body: 'abc', headers: { authorization: s.auth, 'content-type': 'text/plain' } })).status).to.equal(201);
  });

  it('serves a file PUT with an empty Content-Type (Converse.js, a file the browser has no type for) as application/octet-stream', async () => {
    // Converse.js asks with content-type='' and PUTs with `Content-Type:` and no value (XHR setRequestHeader with file.type).
    const s = slotOf(await request('notes.unknownext', 3, ''));
    const status = await new Promise<number>((resolve, reject) => {
      const put = httpRequest(s.put, { method: 'PUT', headers: { authorization: s.auth, 'content-type': '', 'content-length': '3' } });
      put.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      put.on('error', reject);
      put.end('abc');
    });
    expect(status).to.equal(201);
    const got = await fetch(s.get);
    expect(got.headers.get('content-type')).to.equal('application/octet-stream');
    expect(await got.text()).to.equal('abc');
  });

  it('closes the connection after refusing a PUT instead of reading the whole body it did not want', async () => {
    const s = slotOf(await request('small.bin', 3));
    const claimed = 400_000_000;
    /** Sends a PUT's headers, then body bytes for as long as the server takes them: its answer, and how much it took. */
    const attempt = (authorization: string) => new Promise<{ answer: string; sent: number }>((resolve) => {
      // Half-open allowed: a client that goes on sending after the server's FIN, so what stops it is the server.
      const socket = connect({ port: Number(new URL(s.put).port), host: '127.0.0.1', allowHalfOpen: true });
      let answer = '';
      let sent = 0;
      let closed = false;
      socket.on('data', (d) => (answer += d.toString()));
      socket.on('error', () => {});
      socket.on('close', () => {
        closed = true;
        resolve({ answer, sent });
      });
      socket.write(`PUT ${new URL(s.put).pathname} HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\nContent-Length: ${claimed}\r\n\r\n`);
      const chunk = Buffer.alloc(64 * 1024);
      const pump = (): void => {
        if (closed) return;
        if (sent >= claimed) return void socket.destroy();
        sent += chunk.length;
        // About 64 MB/s: a fast uplink, and the whole body takes seconds, not the moment the server lingers.
        if (socket.write(chunk)) setTimeout(pump, 1);
        else socket.once('drain', pump);
      };
      pump();
    });
    // Too long for the slot (a phone would send 400 MB for nothing), and a token that does not match: the answer still arrives.
    for (const [authorization, status] of [[s.auth, '413'], ['Bearer nope', '403']] as const) {
      const { answer, sent } = await attempt(authorization);
      expect(answer.split('\r\n')[0]).to.equal(`HTTP/1.1 ${status} ${status === '413' ? 'Payload Too Large' : 'Forbidden'}`);
      expect(sent).to.be.below(claimed / 2);
    }
    // The slot is still there for the right PUT.
    expect((await fetch(s.put, { method: 'PUT', body: Buffer.from('abc'), headers: { authorization: s.auth } })).status).to.equal(201);
  });

  it('refuses a file over the limit with file-too-large and max-file-size', async () => {
    const r = await request('big.bin', 1001);
    expect(r.attrs.type).to.equal('error');
    expect(r.getChild('error')!.attrs.type).to.equal('modify');
    expect(condition(r)).to.equal('not-acceptable');
    expect(r.getChild('error')!.getChild('file-too-large', NS_UPLOAD)!.getChildText('max-file-size')).to.equal('1000');
  });

  it('enforces the per-user quota over granted and uploaded files (resource-constraint)', async () => {
    slotOf(await request('one.bin', 1000));
    const r = await request('two.bin', 600);
    expect(condition(r)).to.equal('resource-constraint');
    expect(r.getChild('error')!.attrs.type).to.equal('wait');
    slotOf(await request('three.bin', 500));
  });

  it('makes room for a new file by deleting the oldest uploads, only as many as it takes (§7)', async () => {
    const uploaded = async (name: string, size: number): Promise<string> => {
      const s = slotOf(await request(name, size, 'application/octet-stream'));
      const put = await fetch(s.put, { method: 'PUT', body: Buffer.alloc(size, 7), headers: { authorization: s.auth, 'content-type': 'application/octet-stream' } });
      expect(put.status).to.equal(201);
      return s.get;
    };
    const first = await uploaded('first.bin', 500);
    const second = await uploaded('second.bin', 500);
    const third = await uploaded('third.bin', 400);
    // 1,400 of 1,500 bytes used: 600 more needs the first upload's 500 gone, and no more.
    slotOf(await request('fourth.bin', 600));
    expect((await fetch(first)).status).to.equal(404);
    expect((await fetch(second)).status).to.equal(200);
    expect((await fetch(third)).status).to.equal(200);
  });

  it('refuses instead when quotaDeletesOldest is off, keeping every upload', async () => {
    await ts.stop();
    ts = await TestServer.start([roster, disco, upload], {
      modules: { options: { upload: { dir, urlBase: base, maxFileSize: 1000, quotaBytes: 1500, quotaDeletesOldest: false } } },
    });
    alice = await ts.login('alice@localhost/one');
    const s = slotOf(await request('first.bin', 1000, 'application/octet-stream'));
    expect((await fetch(s.put, { method: 'PUT', body: Buffer.alloc(1000), headers: { authorization: s.auth, 'content-type': 'application/octet-stream' } })).status).to.equal(201);
    expect(condition(await request('second.bin', 600))).to.equal('resource-constraint');
    expect((await fetch(s.get)).status).to.equal(200);
  });

  it('holds the quota against slot requests sent at once, from several resources', async () => {
    const tablet = await ts.login('alice@localhost/tablet');
    const ask = (c: TestClient, name: string) => c.iq(`<iq type='get' to='upload.localhost'><request xmlns='${NS_UPLOAD}' filename='${name}' size='1000'/></iq>`);
    const replies = await Promise.all([ask(alice, 'a.bin'), ask(tablet, 'b.bin'), ask(alice, 'c.bin'), ask(tablet, 'd.bin')]);
    expect(replies.filter((r) => r.attrs.type === 'result')).to.have.length(1);
  });

  it('takes a long non-ASCII file name (cut to 200 bytes), refuses the store\'s own name, and no PUT for a deleted account', async () => {
    const long = slotOf(await request(`${'写真'.repeat(45)}.jpg`, 3, 'image/jpeg'));
    expect(Buffer.byteLength(decodeURIComponent(long.put.slice(long.put.lastIndexOf('/') + 1)))).to.be.at.most(200);
    expect((await fetch(long.put, { method: 'PUT', body: 'abc', headers: { authorization: long.auth, 'content-type': 'image/jpeg' } })).status).to.equal(201);
    expect(condition(await request('.meta.json', 3))).to.equal('bad-request');
    const id = long.get.slice(base.length).split('/')[0]!;
    expect((await fetch(`${base}${id}/.meta.json`)).status).to.equal(404);
    const late = slotOf(await request('late.txt', 3, 'text/plain'));
    await ts.server.deleteAccount(alice.session.jid.toBare());
    expect((await fetch(late.put, { method: 'PUT', body: 'abc', headers: { authorization: late.auth, 'content-type': 'text/plain' } })).status).to.equal(403);
  });

  it('drops bidirectional and C1 controls from file names, so a name cannot show as another', async () => {
    // "\u202Egnp.exe" displays as "exe.png"; U+0085 is a line break to some parsers.
    const s = slotOf(await request('\u202Egnp\u0085.exe', 3, 'text/plain'));
    expect(s.put.endsWith('/gnp.exe'), s.put).to.equal(true);
    expect((await fetch(s.put, { method: 'PUT', body: 'abc', headers: { authorization: s.auth, 'content-type': 'text/plain' } })).status).to.equal(201);
    expect(await (await fetch(s.get)).text()).to.equal('abc');
    expect(condition(await request('\u200e..\u2066', 3))).to.equal('bad-request');
  });

  it('uploads and serves a long name cut just after a space, and keeps the file ending of a long name (§4)', async () => {
    const cutAtSpace = slotOf(await request(`${'a'.repeat(199)} bcd`, 3, 'text/plain'));
    expect((await fetch(cutAtSpace.put, { method: 'PUT', body: 'abc', headers: { authorization: cutAtSpace.auth, 'content-type': 'text/plain' } })).status).to.equal(201);
    expect(await (await fetch(cutAtSpace.get)).text()).to.equal('abc');
    const s = slotOf(await request(`${'a'.repeat(199)} b.txt`, 3, 'text/plain'));
    expect(decodeURIComponent(s.put.slice(s.put.lastIndexOf('/') + 1))).to.match(/^a{196}\.txt$/);
    expect((await fetch(s.put, { method: 'PUT', body: 'abc', headers: { authorization: s.auth, 'content-type': 'text/plain' } })).status).to.equal(201);
    expect(await (await fetch(s.get)).text()).to.equal('abc');
  });

  it('serves byte ranges of a file (Safari plays audio and video only from servers that do), and says which it cannot', async () => {
    const s = slotOf(await request('voice.m4a', 10, 'audio/mp4'));
    expect((await fetch(s.put, { method: 'PUT', body: '0123456789', headers: { authorization: s.auth, 'content-type': 'audio/mp4' } })).status).to.equal(201);
    const head = await fetch(s.get, { method: 'HEAD' });
    expect(head.headers.get('accept-ranges')).to.equal('bytes');
    expect(head.headers.get('content-length')).to.equal('10');
    const part = await fetch(s.get, { headers: { range: 'bytes=2-5' } });
    expect(part.status).to.equal(206);
    expect(part.headers.get('content-range')).to.equal('bytes 2-5/10');
    expect(part.headers.get('content-length')).to.equal('4');
    expect(part.headers.get('content-type')).to.equal('audio/mp4');
    expect(part.headers.get('content-security-policy')).to.include('sandbox');
    expect(await part.text()).to.equal('2345');
    expect(await (await fetch(s.get, { headers: { range: 'bytes=7-' } })).text()).to.equal('789');
    expect(await (await fetch(s.get, { headers: { range: 'bytes=-3' } })).text()).to.equal('789');
    expect(await (await fetch(s.get, { headers: { range: 'bytes=8-100' } })).text()).to.equal('89');
    const beyond = await fetch(s.get, { headers: { range: 'bytes=10-' } });
    expect(beyond.status).to.equal(416);
    expect(beyond.headers.get('content-range')).to.equal('bytes */10');
    // Forms sori does not serve get the whole file (RFC 9110 §14.2 lets a server ignore Range).
    for (const range of ['bytes=0-1,4-5', 'items=0-1', 'bytes=5-2']) {
      const whole = await fetch(s.get, { headers: { range } });
      expect(whole.status, range).to.equal(200);
      expect(await whole.text()).to.equal('0123456789');
    }
    // If-Range naming another version of the file: the whole file (upload-http.test.ts has the matching one).
    expect((await fetch(s.get, { headers: { range: 'bytes=2-5', 'if-range': '"v1"' } })).status).to.equal(200);
    // Browsers may ask first whether a script may send Range and read Content-Range.
    const preflight = await fetch(s.get, { method: 'OPTIONS' });
    expect(preflight.headers.get('access-control-allow-headers')).to.match(/\bRange\b/);
    expect(part.headers.get('access-control-expose-headers')).to.match(/\bContent-Range\b/);
  });

  it('answers a disk that fills up during the PUT with an HTTP error, serves nothing of the file, and lets the slot be tried again', async () => {
    const s = slotOf(await request('full.bin', 1000));
    const id = s.get.slice(base.length).split('/')[0]!;
    // Where the store writes the bytes until they are complete: every write there fails with ENOSPC.
    mkdirSync(join(dir, id), { recursive: true });
    symlinkSync('/dev/full', join(dir, id, 'full.bin.part'));
    const body = Buffer.alloc(1000, 7);
    // Half of the body, the rest only once the server has answered: the failure comes in the middle of the upload.
    const failed = await new Promise<number | string>((resolve) => {
      const put = httpRequest(s.put, { method: 'PUT', headers: { authorization: s.auth, 'content-length': '1000' } });
      put.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        put.end(body.subarray(500));
      });
      put.on('error', (e) => resolve(e.message));
      put.write(body.subarray(0, 500));
    });
    expect(failed).to.equal(500);
    expect((await fetch(s.get)).status).to.equal(404);
    expect((await fetch(s.put, { method: 'PUT', body, headers: { authorization: s.auth } })).status).to.equal(201);
    expect(Buffer.from(await (await fetch(s.get)).arrayBuffer())).to.deep.equal(body);
  });

  it('leaves nothing on disk of an upload the client gives up half way, and the slot can be used again', async () => {
    const s = slotOf(await request('dropped.bin', 1000));
    const id = s.get.slice(base.length).split('/')[0]!;
    // A phone losing its network in the middle of the body.
    const put = httpRequest(s.put, { method: 'PUT', headers: { authorization: s.auth, 'content-length': '1000' } });
    put.on('error', () => {});
    put.write(Buffer.alloc(500, 7));
    for (let i = 0; i < 50 && !existsSync(join(dir, id)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(join(dir, id)), 'the upload had started').to.equal(true);
    put.destroy();
    for (let i = 0; i < 50 && existsSync(join(dir, id)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(join(dir, id))).to.equal(false);
    expect((await fetch(s.put, { method: 'PUT', body: Buffer.alloc(1000, 7), headers: { authorization: s.auth } })).status).to.equal(201);
    expect((await fetch(s.get)).status).to.equal(200);
  });

  it('closes the file when a download is given up half way (media players do this all the time)', async () => {
    // A file bigger than what the socket buffers take at once, put straight into the store.
    const id = 'abandonedDownload0000000';
    mkdirSync(join(dir, id));
    const path = join(dir, id, 'video.mp4');
    writeFileSync(path, Buffer.alloc(16 * 1024 * 1024));
    writeFileSync(join(dir, id, '.meta.json'), JSON.stringify({ size: 16 * 1024 * 1024, contentType: 'video/mp4' }));
    const openOnTheFile = () => readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === path;
      } catch {
        return false;
      }
    }).length;
    const abort = new AbortController();
    const res = await fetch(`${base}${id}/video.mp4`, { signal: abort.signal });
    expect(res.status).to.equal(200);
    abort.abort();
    for (let i = 0; i < 50 && openOnTheFile() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(openOnTheFile()).to.equal(0);
  });

  it('names the configured WebSocket TLS port in slot URLs when no urlBase is set', async () => {
    const other = await TestServer.start([roster, disco, upload], { websocket: { tlsPort: 443 }, modules: { options: { upload: { dir } } } });
    try {
      const bob = await other.login('bob@localhost/one');
      const reply = await bob.iq(`<iq type='get' to='upload.localhost'><request xmlns='${NS_UPLOAD}' filename='a.txt' size='3'/></iq>`);
      expect(slotOf(reply).put.startsWith('https://localhost:443/upload/')).to.equal(true);
    } finally {
      await other.stop();
    }
  });

  it('rejects bad requests and unknown payloads', async () => {
    expect(condition(await request('x', 0))).to.equal('bad-request');
    expect(condition(await alice.iq(`<iq type='get' to='upload.localhost'><request xmlns='${NS_UPLOAD}' size='3'/></iq>`))).to.equal('bad-request');
    expect(condition(await alice.iq(`<iq type='get' to='upload.localhost'><ping xmlns='urn:xmpp:ping'/></iq>`))).to.equal('service-unavailable');
  });

  it('makes file names safe path segments', () => {
    expect(safeFilename('../../etc/passwd')).to.equal('passwd');
    expect(safeFilename('a\\b.txt')).to.equal('b.txt');
    expect(safeFilename('..')).to.equal(null);
    expect(safeFilename('  ')).to.equal(null);
    const long = safeFilename(`${'写真'.repeat(45)}.jpeg`)!;
    expect(long).to.match(/^写真写真.*\.jpeg$/);
    expect(Buffer.byteLength(long)).to.be.at.most(200);
    // An "extension" too long to be one is cut like the rest of the name.
    expect(safeFilename(`a.${'b'.repeat(300)}`)).to.equal(`a.${'b'.repeat(198)}`);
    // The HTTP side checks names from URLs with safeFilename: what it returns must survive it again.
    for (const name of [`${'a'.repeat(199)} b`, `${'a'.repeat(195)} ${'b'.repeat(10)}.png`, `${'é'.repeat(150)}.txt`]) {
      const safe = safeFilename(name)!;
      expect(safeFilename(safe), name).to.equal(safe);
    }
  });
});
