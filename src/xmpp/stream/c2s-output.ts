import { openTag, serialize, x, type Attrs, type XmlElement } from '../../util/xml.js';
import type { Transport } from '../transport/transport.js';
import { NS_CLIENT, NS_FRAMING, NS_STREAM } from '../rfc6120-namespaces.js';


/**
 * What a c2s connection writes, framed for its transport: over TCP an XML
 * stream (`<stream:stream>` … `</stream:stream>`), over WebSocket RFC 7395's
 * `<open/>`/`<close/>` with each stanza declaring its namespace, over BOSH
 * whatever the transport makes of a stream's start and end. While a SASL2
 * `<success/>` is being put together, what is written is held back to follow
 * it (`hold`, `release`). The connection decides when; this only writes.
 */
export class C2sOutput {
  /** Output kept back while a SASL2 success is composed; null otherwise. */
  private held: string[] | null = null;
  headerSent = false;

  constructor(private readonly transport: Transport) {}

  /** The server's stream header (RFC 6120 §4.7) with `attrs` (id, from, to, version, xml:lang). */
  header(attrs: Attrs): void {
    if (this.transport.openStream !== undefined) this.transport.openStream(attrs);
    else if (this.transport.framed) this.transport.write(serialize(x('open', { xmlns: NS_FRAMING, ...attrs })));
    else this.transport.write(`<?xml version='1.0'?>` + openTag('stream:stream', { xmlns: NS_CLIENT, 'xmlns:stream': NS_STREAM, ...attrs }));
    this.headerSent = true;
  }

  /** A stanza or nonza; WebSocket frames are parsed on their own, so a stanza there declares jabber:client. */
  element(el: XmlElement): void {
    if (this.transport.framed && el.attrs.xmlns === undefined && (el.name === 'message' || el.name === 'presence' || el.name === 'iq')) {
      el = el.withAttrs({ xmlns: NS_CLIENT, ...el.attrs });
    }
    this.out(serialize(el));
  }

  /** A stream-level element (features, errors); WebSocket frames must declare the stream prefix. */
  streamLevel(el: XmlElement): void {
    if (this.transport.framed) el.attrs['xmlns:stream'] = NS_STREAM;
    this.out(serialize(el));
  }

  /** From now on, keeps what is written until `release`. */
  hold(): void {
    this.held = [];
  }

  get holding(): boolean {
    return this.held !== null;
  }

  /** Writes `first` (the SASL2 `<success/>`), then what was held back, and stops holding. */
  release(first?: string): void {
    const held = this.held ?? [];
    this.held = null;
    if (first !== undefined) this.transport.write(first);
    for (const data of held) this.transport.write(data);
  }

  /** The end of the stream, then of the transport. */
  end(): void {
    if (this.transport.closeStream !== undefined) this.transport.closeStream();
    else this.transport.write(this.transport.framed ? serialize(x('close', { xmlns: NS_FRAMING })) : '</stream:stream>');
    this.transport.end();
  }

  /** Writes, or keeps for later while a SASL2 `<success/>` is being put together (it must go first). */
  private out(data: string): void {
    if (this.held !== null) this.held.push(data);
    else this.transport.write(data);
  }
}
