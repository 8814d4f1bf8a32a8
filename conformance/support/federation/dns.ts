/**
 * A tiny authoritative DNS responder over UDP for the test domains, for peers
 * that resolve names only through DNS (ejabberd's s2s uses inet_res, which
 * reads neither /etc/hosts nor inetrc host entries). It answers A queries for
 * the names it was given and NXDOMAIN for everything else (so SRV lookups fail
 * and peers fall back to the domain's address on port 5269, RFC 6120 §3.2.2).
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

export function answer(query: Buffer, records: Readonly<Record<string, string>>): Buffer | null {
  if (query.length < 12) return null;
  const qdcount = query.readUInt16BE(4);
  if (qdcount !== 1) return null;
  const { name, end } = readName(query, 12);
  const qtype = query.readUInt16BE(end);
  const question = query.subarray(12, end + 4);
  const ip = records[name];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // id
  const rd = query.readUInt16BE(2) & 0x0100;
  // QR, AA, RD copied; RCODE 3 (NXDOMAIN) for unknown names, 0 with no answer for other types of known names.
  header.writeUInt16BE(0x8400 | rd | (ip === undefined ? 3 : 0), 2);
  header.writeUInt16BE(1, 4);
  const withAnswer = ip !== undefined && qtype === 1;
  header.writeUInt16BE(withAnswer ? 1 : 0, 6);
  if (!withAnswer) return Buffer.concat([header, question]);
  const rr = Buffer.alloc(16);
  rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
  rr.writeUInt16BE(1, 2); // A
  rr.writeUInt16BE(1, 4); // IN
  rr.writeUInt32BE(60, 6);
  rr.writeUInt16BE(4, 10);
  ip.split('.').forEach((o, k) => rr.writeUInt8(Number(o), 12 + k));
  return Buffer.concat([header, question, rr]);
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
