import { XmlElement, type Attrs } from '../../util/xml.js';
import { Utf8StreamDecoder } from './utf8-decoder.js';
import { checkPrefixes, declaredPrefixes } from './namespace-prefixes.js';
import { ParseError } from './parse-error.js';
import { checkDeclaration, decodeEntities } from './xml-text.js';
import { NS_FRAMING } from '../rfc6120-namespaces.js';

/**
 * An incremental XML tokenizer for XMPP streams.
 *
 * A byte-at-a-time state machine over decoded text, in the manner of ws's
 * receiver: limits are enforced before anything is buffered, tokens are
 * sliced out of the chunk rather than built char by char, and only the
 * restricted XML that RFC 6120 §11 allows is accepted (no DTDs, no entity
 * declarations, no comments, no processing instructions after the
 * declaration).
 *
 * In stream mode (TCP) the root is `<stream:stream>` and each depth-1 element
 * is a stanza. In framed mode (WebSocket, RFC 7395) each top-level element is a
 * complete document and is emitted whole, `<open/>` and `<close/>` included.
 */

export { ParseError, type ParseErrorCondition } from './parse-error.js';

export interface ParserLimits {
  /** Maximum characters in one stanza (and in any token outside one). */
  maxStanzaSize: number;
  /** Maximum element nesting inside a stanza. */
  maxDepth: number;
  /** Maximum attributes on one element. */
  maxAttributes: number;
}

export const DEFAULT_LIMITS: ParserLimits = { maxStanzaSize: 256 * 1024, maxDepth: 32, maxAttributes: 64 };

/** What a parser reports. A connection can implement it itself: one object per connection instead of three bound functions. */
export interface ParserEvents {
  onStreamStart(name: string, attrs: Attrs): void;
  onStanza(element: XmlElement): void;
  onStreamEnd(): void;
}

const enum S {
  Text,
  Lt,
  OpenName,
  InTag,
  AttrName,
  AfterAttrName,
  BeforeAttrValue,
  AttrValue,
  SelfClose,
  CloseName,
  AfterCloseName,
  Decl,
  Bang,
  Cdata,
}

const LT = 60;
const GT = 62;
const SLASH = 47;
const EQ = 61;
const QUOT = 34;
const APOS = 39;
const QMARK = 63;
const BANG = 33;

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 9 || c === 13;
}

const STREAM_HEADER_NAME = 'stream:stream';
/** Shared and frozen: a tag's own attributes object is made when its name ends. */
const NO_ATTRIBUTES: Attrs = Object.freeze({});

export class XmppParser {
  private state = S.Text;
  /** Partial token carried over from previous chunks. */
  private carry = '';
  private tagName = '';
  private attrs: Attrs = {};
  private attrCount = 0;
  /** The tag being read has an attribute with a prefix (xml:lang, say), checked when it ends. */
  private prefixedAttributes = false;
  /** The prefixes the stream header declares (xmlns:stream), which stanzas may use. */
  private streamPrefixes: Attrs = NO_ATTRIBUTES;
  private attrName = '';
  private quote = 0;
  /** Element being built, innermost last. */
  private stack: XmlElement[] = [];
  private streamOpen = false;
  /** Characters consumed by the current stanza before the current chunk. */
  private stanzaChars = 0;
  /** Index in the current chunk where the current stanza started, or -1. */
  private stanzaStartInChunk = -1;
  private inStanza = false;
  /** Index in the current chunk of the character being parsed. */
  private pos = 0;
  private sawDeclaration = false;
  /** Nothing of the stream's document has been read yet (a byte order mark may come). */
  private documentStart = true;
  /** Set by reset(): what is left of the chunk being parsed was sent before the restart and is dropped. */
  private restarted = false;
  private readonly decoder = new Utf8StreamDecoder();
  private streamNs: string | undefined;
  /** The stream header's xml:lang (the `<open/>`'s over WebSocket and BOSH), the default of the stanzas that follow. */
  private streamLang: string | undefined = undefined;
  private failed: ParseError | null = null;

  constructor(
    private readonly events: ParserEvents,
    private readonly limits: ParserLimits = DEFAULT_LIMITS,
    private readonly framed = false,
    /**
     * Input from a peer, checked by every rule of XML and XML-NAMES. False for stanzas read back from storage, kept as they were
     * accepted by the rules of their day: a record must stay readable when a rule for the wire is added.
     */
    private readonly wire = true,
  ) {}

  /** Feeds raw bytes from the transport. Throws ParseError; after one, the parser refuses further input. */
  writeBytes(chunk: Uint8Array): void {
    let text: string;
    try {
      text = this.decoder.decode(chunk);
    } catch {
      // RFC 6120 §4.9.3.22: an improperly encoded stream (violating the rules of UTF-8) is unsupported-encoding.
      throw this.fail(new ParseError('unsupported-encoding', 'invalid UTF-8'));
    }
    this.write(text);
  }

  /** Feeds decoded text (WebSocket frames arrive as text). */
  write(chunk: string): void {
    if (this.failed) throw this.failed;
    try {
      this.parse(chunk);
    } catch (e) {
      if (e instanceof ParseError) throw this.fail(e);
      throw e;
    }
  }

  /**
   * Framed input (RFC 7395 §3.3.3: a WebSocket message is one complete element) ended with no element or
   * markup left open. Checked once per message, so that a partial one is refused instead of awaiting a rest.
   */
  frameComplete(): boolean {
    return !this.framed || (this.stack.length === 0 && this.state === S.Text);
  }

  /**
   * Forgets all state: a stream restart after STARTTLS or SASL (RFC 6120 §4.3.3). Called from a `stanza` event,
   * it also drops the rest of the input being parsed, and any partial character: bytes that came with a
   * <starttls/> were sent in the clear before the handshake, and read afterwards they would pass for encrypted
   * ones (a man in the middle's stream header and <auth/>, logging the client in as someone else: §5.4.3.3).
   */
  reset(): void {
    this.restarted = true;
    this.documentStart = true;
    this.decoder.reset();
    this.state = S.Text;
    this.carry = '';
    this.stack = [];
    this.streamOpen = false;
    this.inStanza = false;
    this.stanzaChars = 0;
    this.sawDeclaration = false;
    this.streamNs = undefined;
    this.streamPrefixes = NO_ATTRIBUTES;
    this.streamLang = undefined;
  }

  private fail(e: ParseError): ParseError {
    this.failed = e;
    return e;
  }

  private parse(s: string): void {
    const len = s.length;
    let tokStart = 0;
    if (this.documentStart && len > 0) {
      // XML 1.0 §4.3.3: a UTF-8 document may begin with a byte order mark (clients on .NET and Windows send one).
      this.documentStart = false;
      if (s.charCodeAt(0) === 0xfeff && !this.framed) tokStart = 1;
    }
    this.restarted = false;
    this.stanzaStartInChunk = this.inStanza ? 0 : -1;
    for (let i = tokStart; i < len; i++) {
      const c = s.charCodeAt(i);
      const prev = this.state;
      this.pos = i;
      // Not XML characters (§2.2 of XML 1.0): C0 controls but tab, LF and CR; U+FFFE and U+FFFF (the UTF-8 decoder lets
      // no lone surrogate through, and a chunk is never cut inside a pair), which stored stanzas may hold from before.
      if (c < 32 ? c !== 10 && c !== 9 && c !== 13 : c >= 0xfffe && this.wire) throw new ParseError('not-well-formed', 'a character XML does not allow');
      switch (this.state) {
        case S.Text:
          if (c === LT) {
            this.text(this.carry + s.slice(tokStart, i));
            this.carry = '';
            this.state = S.Lt;
            if (!this.inStanza && this.depthForStanza() === this.stack.length && this.streamReady()) {
              // A stanza (or a framed document) starts at this '<'.
              this.inStanza = true;
              this.stanzaChars = 0;
              this.stanzaStartInChunk = i;
            }
          }
          break;
        case S.Lt:
          if (c === SLASH) {
            this.state = S.CloseName;
            tokStart = i + 1;
          } else if (c === QMARK) {
            this.state = S.Decl;
            tokStart = i + 1;
          } else if (c === BANG) {
            this.state = S.Bang;
            tokStart = i + 1;
          } else if (isSpace(c) || c === GT || c === EQ || c === LT) {
            throw new ParseError('not-well-formed', 'bad character after <');
          } else {
            this.state = S.OpenName;
            tokStart = i;
          }
          break;
        case S.OpenName:
          if (isSpace(c) || c === GT || c === SLASH) {
            this.tagName = this.carry + s.slice(tokStart, i);
            this.carry = '';
            this.attrs = {};
            this.attrCount = 0;
            this.prefixedAttributes = false;
            if (c === GT) this.openTag(false);
            else this.state = c === SLASH ? S.SelfClose : S.InTag;
          } else if (c === LT || c === EQ || c === QUOT || c === APOS) {
            throw new ParseError('not-well-formed', 'bad character in element name');
          }
          break;
        case S.InTag:
          if (c === GT) this.openTag(false);
          else if (c === SLASH) this.state = S.SelfClose;
          else if (!isSpace(c)) {
            if (c === LT || c === EQ || c === QUOT || c === APOS) throw new ParseError('not-well-formed', 'bad character in tag');
            this.state = S.AttrName;
            tokStart = i;
          }
          break;
        case S.AttrName:
          if (c === EQ || isSpace(c)) {
            this.attrName = this.carry + s.slice(tokStart, i);
            this.carry = '';
            this.state = c === EQ ? S.BeforeAttrValue : S.AfterAttrName;
          } else if (c === GT || c === SLASH || c === LT || c === QUOT || c === APOS) {
            throw new ParseError('not-well-formed', 'attribute without value');
          }
          break;
        case S.AfterAttrName:
          if (c === EQ) this.state = S.BeforeAttrValue;
          else if (!isSpace(c)) throw new ParseError('not-well-formed', 'expected = after attribute name');
          break;
        case S.BeforeAttrValue:
          if (c === QUOT || c === APOS) {
            this.quote = c;
            this.state = S.AttrValue;
            tokStart = i + 1;
          } else if (!isSpace(c)) throw new ParseError('not-well-formed', 'attribute value must be quoted');
          break;
        case S.AttrValue:
          if (c === this.quote) {
            this.attr(this.carry + s.slice(tokStart, i));
            this.carry = '';
            this.state = S.InTag;
          } else if (c === LT) throw new ParseError('not-well-formed', '< in attribute value');
          break;
        case S.SelfClose:
          if (c !== GT) throw new ParseError('not-well-formed', 'expected > after /');
          this.openTag(true);
          break;
        case S.CloseName:
          if (c === GT || isSpace(c)) {
            const name = this.carry + s.slice(tokStart, i);
            this.carry = '';
            if (c === GT) this.closeTag(name);
            else {
              this.tagName = name;
              this.state = S.AfterCloseName;
            }
          }
          break;
        case S.AfterCloseName:
          if (c === GT) this.closeTag(this.tagName);
          else if (!isSpace(c)) throw new ParseError('not-well-formed', 'garbage in end tag');
          break;
        case S.Decl:
          // Only the XML declaration, once, before any element.
          if (c === GT && (s.charCodeAt(i - 1) === QMARK || this.carry.endsWith('?'))) {
            const declaration = this.carry + s.slice(tokStart, i - 1);
            this.carry = '';
            if (this.sawDeclaration || this.stack.length > 0 || this.streamOpen) throw new ParseError('restricted-xml', 'processing instructions are not allowed');
            checkDeclaration(declaration);
            this.sawDeclaration = true;
            this.state = S.Text;
            tokStart = i + 1;
            if (this.inStanza && this.framed) this.inStanza = false;
          }
          break;
        case S.Bang: {
          const seen = this.carry + s.slice(tokStart, i + 1);
          if (seen === '[CDATA[') {
            if (this.stack.length <= this.depthForStanza() && !this.framed) throw new ParseError('not-well-formed', 'CDATA outside a stanza');
            this.carry = '';
            this.state = S.Cdata;
            tokStart = i + 1;
          } else if (!'[CDATA['.startsWith(seen)) {
            throw new ParseError('restricted-xml', seen[0] === '-' ? 'comments are not allowed in XMPP' : 'DTDs are not allowed in XMPP');
          }
          break;
        }
        case S.Cdata:
          if (c === GT && i >= 2 && s.charCodeAt(i - 1) === 93 && s.charCodeAt(i - 2) === 93) {
            const content = this.carry + s.slice(tokStart, i - 2);
            this.carry = '';
            this.stack[this.stack.length - 1]!.children.push(content);
            this.state = S.Text;
            tokStart = i + 1;
          } else if (c === GT && i < 2 && (this.carry + s.slice(tokStart, i)).endsWith(']]')) {
            // Only where the ']]' may lie partly in the last chunk: a joined copy for every '>' would make a
            // section of '>' spanning chunks quadratic (seconds of a blocked event loop for 200 KB).
            const all = this.carry + s.slice(tokStart, i);
            this.carry = '';
            this.stack[this.stack.length - 1]!.children.push(all.slice(0, -2));
            this.state = S.Text;
            tokStart = i + 1;
          }
          break;
      }
      // Entering text: the next token starts after this character. A tag just ended, so a restart may have come.
      if (this.state === S.Text && prev !== S.Text) {
        if (this.restarted) return;
        tokStart = i + 1;
      }
    }
    // Carry the unfinished token over to the next chunk. Text between stanzas is checked now and not kept: an idle
    // stream's whitespace keepalives would pile up until its next stanza, and anything else would wait for a '<'.
    if (this.state === S.Text && this.betweenStanzas()) {
      this.text(this.carry + s.slice(tokStart));
      this.carry = '';
    } else if (this.state === S.Text || this.state === S.OpenName || this.state === S.AttrName || this.state === S.AttrValue || this.state === S.CloseName || this.state === S.Bang || this.state === S.Cdata || this.state === S.Decl) {
      this.carry += s.slice(tokStart);
    }
    if (this.inStanza) {
      this.stanzaChars += len - (this.stanzaStartInChunk === -1 ? 0 : this.stanzaStartInChunk);
      if (this.stanzaChars > this.limits.maxStanzaSize) throw new ParseError('policy-violation', `stanza larger than ${this.limits.maxStanzaSize} characters`);
    } else if (this.carry.length > this.limits.maxStanzaSize) {
      throw new ParseError('policy-violation', 'too much data outside a stanza');
    }
  }

  /** Depth of the stack at which a new element is a stanza. */
  private depthForStanza(): number {
    return this.framed ? 0 : 1;
  }

  private streamReady(): boolean {
    return this.framed || this.streamOpen;
  }

  /** Outside any stanza: before the stream header, between stanzas, or between WebSocket documents. */
  private betweenStanzas(): boolean {
    const depth = this.stack.length;
    return depth === 0 || (!this.framed && depth === 1 && this.streamOpen);
  }

  private text(t: string): void {
    if (t.length === 0) return;
    const depth = this.stack.length;
    if (this.betweenStanzas()) {
      // Between stanzas only whitespace (keepalives) is allowed.
      for (let k = 0; k < t.length; k++) if (!isSpace(t.charCodeAt(k))) throw new ParseError('not-well-formed', 'text outside a stanza');
      return;
    }
    this.stack[depth - 1]!.children.push(decodeEntities(t));
  }

  private attr(raw: string): void {
    if (++this.attrCount > this.limits.maxAttributes) throw new ParseError('policy-violation', 'too many attributes');
    if (this.attrs[this.attrName] !== undefined) throw new ParseError('not-well-formed', `duplicate attribute ${this.attrName}`);
    if (this.attrName.indexOf(':') !== -1) this.prefixedAttributes = true;
    this.attrs[this.attrName] = decodeEntities(raw);
  }

  private openTag(selfClosing: boolean): void {
    this.state = S.Text;
    const name = this.tagName;
    const attrs = this.attrs;
    // Dropped here so that an idle session does not keep its last tag (and the chunk it was sliced from) alive.
    this.tagName = '';
    this.attrs = NO_ATTRIBUTES;
    if (!this.framed && !this.streamOpen) {
      if (this.stack.length !== 0) throw new ParseError('not-well-formed', 'unexpected element');
      this.streamOpen = true;
      // The literal rather than the attribute, which is sliced from the header's chunk and would keep all of it.
      this.streamNs = attrs.xmlns === 'jabber:client' ? 'jabber:client' : attrs.xmlns === 'jabber:server' ? 'jabber:server' : attrs.xmlns;
      this.streamLang = attrs['xml:lang'];
      // Marker so that text at depth 1 is treated as inter-stanza whitespace. It lives as long as the stream, so it
      // keeps neither the header's attributes nor a name sliced from the header's chunk.
      this.stack.push(new XmlElement(name === STREAM_HEADER_NAME ? STREAM_HEADER_NAME : name, NO_ATTRIBUTES));
      this.streamPrefixes = declaredPrefixes(attrs);
      this.events.onStreamStart(name, attrs);
      if (selfClosing) throw new ParseError('not-well-formed', 'self-closing stream header');
      return;
    }
    const stanzaDepth = this.depthForStanza();
    // A stream header where a stanza belongs would open an element that never ends: the client would wait for
    // features that never come. A stream restarts only after STARTTLS or SASL success (RFC 6120 §4.3.3), by reset().
    if (name === STREAM_HEADER_NAME && this.stack.length === 1 && !this.framed) throw new ParseError('invalid-xml', 'the stream is open already');
    if (this.stack.length - stanzaDepth >= this.limits.maxDepth) throw new ParseError('policy-violation', 'elements nested too deeply');
    if (this.wire && (this.prefixedAttributes || name.indexOf(':') !== -1)) checkPrefixes(name, attrs, this.stack, this.stack.length > stanzaDepth ? this.stack[stanzaDepth]!.attrs : attrs, this.streamPrefixes, this.prefixedAttributes);
    const el = new XmlElement(name, attrs);
    if (this.stack.length > stanzaDepth) {
      const parent = this.stack[this.stack.length - 1]!;
      el.parent = parent;
      parent.children.push(el);
    } else {
      const contentNs = this.framed ? 'jabber:client' : this.streamNs;
      // Stanzas inherit the stream's default namespace; make it explicit so routing needs no parent.
      if (el.attrs.xmlns === undefined && name.indexOf(':') === -1) el.attrs.xmlns = contentNs;
      // RFC 6120 §4.7.4: a stanza without xml:lang is in the language of the stream header, and says so when it goes on.
      if (this.streamLang !== undefined && el.attrs['xml:lang'] === undefined && el.attrs.xmlns === contentNs) el.attrs['xml:lang'] = this.streamLang;
      else if (this.framed && name === 'open' && el.attrs.xmlns === NS_FRAMING) this.streamLang = el.attrs['xml:lang'];
    }
    if (selfClosing) {
      if (this.stack.length === stanzaDepth) this.emit(el);
    } else {
      this.stack.push(el);
    }
  }

  private closeTag(name: string): void {
    this.state = S.Text;
    this.tagName = '';
    const top = this.stack.pop();
    if (top === undefined || top.name !== name) throw new ParseError('not-well-formed', `mismatched end tag </${name}>`);
    if (!this.framed && this.stack.length === 0) {
      this.streamOpen = false;
      this.inStanza = false;
      this.events.onStreamEnd();
      return;
    }
    if (this.stack.length === this.depthForStanza()) this.emit(top);
  }

  private emit(el: XmlElement): void {
    const size = this.stanzaChars + this.pos + 1 - (this.stanzaStartInChunk === -1 ? 0 : this.stanzaStartInChunk);
    if (size > this.limits.maxStanzaSize) throw new ParseError('policy-violation', `stanza larger than ${this.limits.maxStanzaSize} characters`);
    this.inStanza = false;
    this.stanzaChars = 0;
    this.events.onStanza(el);
  }
}
