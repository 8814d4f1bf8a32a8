/**
 * A tiny authoritative DNS responder over UDP for the test domains, for peers
 * that resolve names only through DNS (ejabberd's s2s uses inet_res, which
 * reads neither /etc/hosts nor inetrc host entries). It answers A queries for
 * the names it was given, `_xmpp-server._tcp` SRV records pointing at them on
 * 5269, and NXDOMAIN for everything else.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface TestDns {
  address: string;
  port: number;
  close(): Promise<void>;
}

function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = offset;
  for (;;) {
    const len = msg[i]!;
    if (len === 0) return { name: labels.join('.').toLowerCase(), end: i + 1 };
    if ((len & 0xc0) !== 0) throw new Error('compressed names are not expected in questions');
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('ascii'));
    i += 1 + len;
  }
}

function encodeName(name: string): Buffer {
  return Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])]);
}

function resourceRecord(type: number, rdata: Buffer): Buffer {
  const rr = Buffer.alloc(12);
  rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
  rr.writeUInt16BE(type, 2);
  rr.writeUInt16BE(1, 4); // IN
  rr.writeUInt32BE(60, 6);
  rr.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([rr, rdata]);
}

/**
 * The reply to one query: A for a known name; SRV `_xmpp-server._tcp.NAME` →
 * NAME:5269 for a known name (ejabberd 23.01 gives up with "enoname" when both
 * SRV lookups fail instead of falling back to A); NXDOMAIN otherwise.
 */
export function answer(query: Buffer, records: Readonly<Record<string, string>>): Buffer | null {
  if (query.length < 12) return null;
  const qdcount = query.readUInt16BE(4);
  if (qdcount !== 1) return null;
  const { name, end } = readName(query, 12);
  const qtype = query.readUInt16BE(end);
  const question = query.subarray(12, end + 4);
  const srvTarget = name.startsWith('_xmpp-server._tcp.') ? name.slice('_xmpp-server._tcp.'.length) : null;
  const known = srvTarget !== null ? records[srvTarget] !== undefined : records[name] !== undefined;
  let rr: Buffer | null = null;
  if (qtype === 1 && srvTarget === null && records[name] !== undefined) rr = resourceRecord(1, Buffer.from(records[name]!.split('.').map(Number)));
  if (qtype === 33 && srvTarget !== null && known) {
    const fixed = Buffer.alloc(6);
    fixed.writeUInt16BE(0, 0); // priority
    fixed.writeUInt16BE(0, 2); // weight
    fixed.writeUInt16BE(5269, 4);
    rr = resourceRecord(33, Buffer.concat([fixed, encodeName(srvTarget)]));
  }
  if (process.env.SORI_FED_DNS_DEBUG) console.error(`dns: ${name} type ${qtype} → ${rr !== null ? 'answer' : known ? 'no data' : 'NXDOMAIN'}`);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // id
  const rd = query.readUInt16BE(2) & 0x0100;
  // QR, AA, RD copied; RCODE 3 (NXDOMAIN) for unknown names.
  header.writeUInt16BE(0x8400 | rd | (known ? 0 : 3), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(rr !== null ? 1 : 0, 6);
  return Buffer.concat(rr !== null ? [header, question, rr] : [header, question]);
}

export function startTestDns(address: string, port: number, records: Readonly<Record<string, string>>): Promise<TestDns> {
  return new Promise((resolve, reject) => {
    const sock: Socket = createSocket('udp4');
    sock.on('message', (msg, rinfo) => {
      let reply: Buffer | null = null;
      try {
        reply = answer(msg, records);
      } catch {
        reply = null;
      }
      if (reply !== null) sock.send(reply, rinfo.port, rinfo.address);
    });
    sock.once('error', reject);
    sock.bind(port, address, () => {
      sock.unref();
      resolve({ address, port, close: () => new Promise<void>((r) => sock.close(() => r())) });
    });
  });
}
