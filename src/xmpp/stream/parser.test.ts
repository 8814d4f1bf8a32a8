import { expect } from 'chai';
import { XmppParser, ParseError, type ParserLimits, DEFAULT_LIMITS } from './parser.js';
import { parseXml } from './parse-xml.js';
import type { XmlElement, Attrs } from '../../util/xml.js';

function collect(framed = false, limits: ParserLimits = DEFAULT_LIMITS) {
  const out = { starts: [] as Attrs[], stanzas: [] as XmlElement[], ends: 0 };
  const p = new XmppParser(
    { onStreamStart: (_n, a) => out.starts.push(a), onStanza: (e) => out.stanzas.push(e), onStreamEnd: () => out.ends++ },
    limits,
    framed,
  );
  return { p, out };
}

const HEADER = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

function conditionOf(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ParseError) return e.condition;
    throw e;
  }
  return 'none';
}

describe('XmppParser', () => {
  it('emits the stream header and stanzas with the stream namespace', () => {
    const { p, out } = collect();
    p.write(HEADER + "<message to='a@b' type='chat'><body>hi &amp; &lt;bye&gt; &#x1F600;</body></message>");
    expect(out.starts[0]!.to).to.equal('localhost');
    expect(out.stanzas).to.have.length(1);
    const m = out.stanzas[0]!;
    expect(m.attrs.xmlns).to.equal('jabber:client');
    expect(m.getChildText('body')).to.equal('hi & <bye> \u{1F600}');
  });

  it('handles any split across chunks, byte by byte', () => {
    const doc = HEADER + "<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>  <presence/><message><body><![CDATA[<x>]]></body></message></stream:stream>";
    const bytes = Buffer.from(doc);
    const { p, out } = collect();
    for (const b of bytes) p.writeBytes(Uint8Array.of(b));
    expect(out.stanzas.map((s) => s.name)).to.deep.equal(['iq', 'presence', 'message']);
    expect(out.stanzas[0]!.getChild('query', 'jabber:iq:roster')).to.not.equal(undefined);
    expect(out.stanzas[2]!.getChildText('body')).to.equal('<x>');
    expect(out.ends).to.equal(1);
  });

  it('decodes multi-byte UTF-8 split between chunks', () => {
    const { p, out } = collect();
    const bytes = Buffer.from(HEADER + '<message><body>é😀</body></message>');
    p.writeBytes(bytes.subarray(0, bytes.length - 20));
    p.writeBytes(bytes.subarray(bytes.length - 20));
    expect(out.stanzas[0]!.getChildText('body')).to.equal('é😀');
  });

  it('rejects DTDs, entity declarations, comments and PIs as restricted-xml', () => {
    for (const bad of ['<!DOCTYPE foo [<!ENTITY x "y">]>', '<!-- hi -->', '<message><body>&xxe;</body></message>', '<?foo bar?>']) {
      const { p } = collect();
      expect(conditionOf(() => p.write(HEADER + bad)), bad).to.equal('restricted-xml');
    }
  });

  it('takes only the XML declaration before the stream header, in UTF-8 (§11.1, §11.6)', () => {
    const stream = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
    for (const [prolog, condition] of [
      ["<?xml-stylesheet href='x'?>", 'restricted-xml'],
      ['<?foo bar?>', 'restricted-xml'],
      ["<?xml version='1.0' encoding='UTF-16'?>", 'unsupported-encoding'],
      ["<?xml version='1.0' encoding='utf-8'?>", 'none'],
      ["<?xml version='1.0'?>", 'none'],
    ] as const) {
      const { p } = collect();
      expect(conditionOf(() => p.write(prolog + stream)), prolog).to.equal(condition);
    }
  });

  it('takes a byte order mark at the start of the document only', () => {
    const { p, out } = collect();
    p.write('\uFEFF' + HEADER + '<presence/>');
    expect(out.stanzas).to.have.length(1);
    expect(conditionOf(() => p.write('\uFEFF<presence/>'))).to.equal('not-well-formed');
  });

  it('refuses text between stanzas when it comes, not when a tag follows it', () => {
    const { p, out } = collect();
    p.write(HEADER + '<presence/>');
    for (let i = 0; i < 100; i++) p.write(' \n');
    p.write('<presence/>');
    expect(out.stanzas).to.have.length(2);
    expect(conditionOf(() => p.write(' hello\n'))).to.equal('not-well-formed');
  });

  it('rejects malformed XML as not-well-formed', () => {
    for (const bad of ['<message></iq>', '<message a=b/>', '<message a="1" a="2"/>', 'text<presence/>', '<message>\u0001</message>']) {
      const { p } = collect();
      expect(conditionOf(() => p.write(HEADER + bad)), bad).to.equal('not-well-formed');
    }
  });

  it('rejects invalid UTF-8 as unsupported-encoding (§4.9.3.22)', () => {
    const { p } = collect();
    expect(conditionOf(() => p.writeBytes(Buffer.from([0xff, 0xfe])))).to.equal('unsupported-encoding');
  });

  it('takes prefixes declared on the element, an ancestor or the stream header, and refuses undeclared ones (XML-NAMES)', () => {
    const header = HEADER.replace("version='1.0'>", "version='1.0' xmlns:db='jabber:server:dialback'>");
    for (const [stanza, condition] of [
      ["<a:m xmlns:a='urn:a'/>", 'none'],
      ["<m xmlns:a='urn:a'><a:x a:y='1'/></m>", 'none'],
      ["<db:result to='a' from='b'/>", 'none'],
      ["<m xml:lang='en' xmlns:a='urn:a' xmlns:b='urn:b' a:y='1' b:y='2'/>", 'none'],
      ['<a:m/>', 'not-well-formed'],
      ["<m><x a:y='1'/></m>", 'not-well-formed'],
      ["<m xmlns:a=''><a:x/></m>", 'not-well-formed'],
      ["<m xmlns:a='urn:a'/><a:x/>", 'not-well-formed'],
      ["<m xmlns:a='urn:a' xmlns:b='urn:a' a:y='1' b:y='2'/>", 'not-well-formed'],
    ] as const) {
      const { p, out } = collect();
      expect(conditionOf(() => p.write(header + stanza)), stanza).to.equal(condition);
      if (condition === 'none') expect(out.stanzas, stanza).to.have.length(1);
    }
    // Stored stanzas are read back as they were accepted (a payload cut from where its prefix was declared).
    expect(parseXml('<item><a:x/></item>').getChild('a:x')).to.not.equal(undefined);
  });

  it('enforces stanza size, depth and attribute limits as policy-violation', () => {
    const limits = { maxStanzaSize: 1000, maxDepth: 5, maxAttributes: 5 };
    let c = collect(false, limits);
    expect(conditionOf(() => c.p.write(HEADER + `<message><body>${'x'.repeat(2000)}</body></message>`))).to.equal('policy-violation');
    c = collect(false, limits);
    c.p.write(HEADER + '<message><body>');
    expect(conditionOf(() => { for (let i = 0; i < 20; i++) c.p.write('y'.repeat(100)); })).to.equal('policy-violation');
    c = collect(false, limits);
    expect(conditionOf(() => c.p.write(HEADER + '<a><b><c><d><e><f><g/></f></e></d></c></b></a>'))).to.equal('policy-violation');
    c = collect(false, limits);
    expect(conditionOf(() => c.p.write(HEADER + '<a u="0" v="0" w="1" x="2" y="3" z="4"/>'))).to.equal('policy-violation');
    // Under the limits everything passes.
    c = collect(false, limits);
    c.p.write(HEADER + `<message><body>${'x'.repeat(500)}</body></message>`);
    expect(c.out.stanzas).to.have.length(1);
  });

  it('parses a CDATA section spanning many chunks in time linear in its size, whatever it holds', async function () {
    const { p, out } = collect(false, { ...DEFAULT_LIMITS, maxStanzaSize: 8 << 20 });
    p.write(HEADER + '<message><body><![CDATA[');
    // 4 MB of '>' in 64 KiB reads: with work per '>' proportional to what came before, this would take hours (and
    // 11 s for 200 KB, the event loop blocked); the reads are a tick apart so that mocha's timeout can end the test.
    for (let i = 0; i < 64 && !this.test!.timedOut; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      p.write('>'.repeat(65536));
    }
    // The end of the section split between reads.
    p.write(']');
    p.write(']>x</body></message>');
    expect(out.stanzas[0]!.getChildText('body')).to.equal('>'.repeat(64 * 65536) + 'x');
  });

  it('reads back stored stanzas the wire would now refuse (a raw U+FFFE, archived before it was refused)', () => {
    expect(parseXml('<message><body>a\uFFFEb</body></message>').getChildText('body')).to.equal('a\uFFFEb');
    const { p } = collect();
    expect(conditionOf(() => p.write(HEADER + '<message><body>a\uFFFEb</body></message>'))).to.equal('not-well-formed');
  });

  it('refuses input after an error', () => {
    const { p } = collect();
    expect(conditionOf(() => p.write(HEADER + '<!--'))).to.equal('restricted-xml');
    expect(conditionOf(() => p.write('<presence/>'))).to.equal('restricted-xml');
  });

  it('restarts cleanly after reset (stream restart)', () => {
    const { p, out } = collect();
    p.write(HEADER + '<auth/>');
    p.reset();
    p.write(HEADER + '<iq/>');
    expect(out.starts).to.have.length(2);
    expect(out.stanzas.map((s) => s.name)).to.deep.equal(['auth', 'iq']);
  });

  it('framed mode emits each top-level element, open and close included', () => {
    const { p, out } = collect(true);
    p.write("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>");
    p.write("<message xmlns='jabber:client' to='a@b'><body>x</body></message>");
    p.write('<presence/>');
    p.write("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
    expect(out.stanzas.map((s) => s.name)).to.deep.equal(['open', 'message', 'presence', 'close']);
    expect(out.stanzas[2]!.attrs.xmlns).to.equal('jabber:client');
  });
});
