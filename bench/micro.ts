/**
 * Micro-benchmarks of sori's hot path, driven in-process (no sockets, no TLS):
 * the stream parser, and parse → route → archive → write with every default
 * module loaded on the memory and LevelDB stores. Prints msgs/s; run with
 * `npx tsx bench/micro.ts`, add `--cpu-prof` to node for a profile.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XmppParser } from '../src/xmpp/stream/parser.js';
import { TestServer, type TestClient } from '../src/testing/harness.js';
import { ALL_MODULES } from '../src/xmpp/modules/index.js';
import { CoalescingStore } from '../src/storage/coalescing.js';
import { createStore } from '../src/storage/index.js';
import { processClientElement } from '../src/xmpp/stream/inbound.js';

const N = Number(process.env.N ?? 20000);

function parserBench(): number {
  const stanza = "<message to='bob@localhost' type='chat' id='abcdef'><body>hello there, this is a benchmark message</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>";
  let count = 0;
  const p = new XmppParser({ onStreamStart: () => {}, onStanza: () => count++, onStreamEnd: () => {} });
  p.write("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>");
  const chunk = stanza.repeat(100);
  const t0 = performance.now();
  for (let i = 0; i < N / 100; i++) p.write(chunk);
  const s = (performance.now() - t0) / 1000;
  return count / s;
}

async function routeBench(backend: 'memory' | 'leveldb'): Promise<number> {
  const inner = await createStore(backend === 'memory' ? { backend } : { backend, path: mkdtempSync(join(tmpdir(), 'sori-micro-')) });
  // The modules `npm start` loads (admin-api and others off by default need options to start).
  const ts = await TestServer.start(ALL_MODULES.filter((m) => m.defaultEnabled !== false), {}, new CoalescingStore(inner));
  const pairs: [TestClient, TestClient][] = [];
  for (let i = 0; i < 100; i++) {
    const a = await ts.login(`a${i}@localhost/r`);
    const b = await ts.login(`b${i}@localhost/r`);
    await a.send('<presence/>');
    await b.send('<presence/>');
    pairs.push([a, b]);
  }
  const { parseXml } = await import('../src/xmpp/stream/parse-xml.js');
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < N; i++) {
    const [a, b] = pairs[i % pairs.length]!;
    const el = parseXml(`<message xmlns='jabber:client' to='${b.jid.split('/')[0]}' type='chat' id='m${i}'><body>hello ${i}</body></message>`);
    inflight.push(Promise.resolve(processClientElement(ts.server, a.session, el)));
    if (inflight.length >= 500) await Promise.all(inflight.splice(0));
  }
  await Promise.all(inflight);
  const s = (performance.now() - t0) / 1000;
  const delivered = pairs.reduce((n, [, b]) => n + b.received.filter((e) => e.name === 'message').length, 0);
  await ts.stop();
  if (delivered < N) throw new Error(`only ${delivered} of ${N} delivered`);
  return N / s;
}

const rows: [string, number][] = [['parser (stanzas/s)', parserBench()]];
rows.push(['route+archive, memory store (msgs/s)', await routeBench('memory')]);
rows.push(['route+archive, LevelDB store (msgs/s)', await routeBench('leveldb')]);
for (const [name, v] of rows) console.log(`${name.padEnd(42)} ${Math.round(v).toLocaleString('en')}`);
