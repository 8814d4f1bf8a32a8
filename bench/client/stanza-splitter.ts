/**
 * A cheap XMPP stream tokenizer for the load generator.
 *
 * It does not build trees: it only tracks element depth so it can cut the
 * byte stream into the stream header and whole top-level stanzas (strings),
 * which the client then inspects with `startsWith` / `indexOf`. That is all a
 * benchmark needs, and it keeps the generator's CPU per stanza far below the
 * server's. It understands quoted attribute values (a `>` inside quotes does
 * not end a tag), `<?xml …?>` declarations and self-closing tags; it does not
 * understand comments, CDATA or DTDs, which servers do not send to clients.
 */

export interface StanzaSink {
  onStreamHeader(header: string): void;
  onStanza(stanza: string): void;
  onStreamEnd(): void;
}

const LESS_THAN = 60; // '<'
const GREATER_THAN = 62; // '>'
const SLASH = 47; // '/'
const QUESTION = 63; // '?'
const DOUBLE_QUOTE = 34;
const SINGLE_QUOTE = 39;

export class StanzaSplitter {
  private buffer = '';
  /** Where scanning resumes in `buffer` (everything before it is understood). */
  private scanFrom = 0;
  /** Element depth: 0 outside the stream, 1 inside <stream:stream>, 2+ inside a stanza. */
  private depth = 0;
  /** Offset in `buffer` where the current top-level stanza starts, or -1. */
  private stanzaStart = -1;

  constructor(private readonly sink: StanzaSink) {}

  /** Forget everything: used on stream restarts (after STARTTLS and SASL). */
  reset(): void {
    this.buffer = '';
    this.scanFrom = 0;
    this.depth = 0;
    this.stanzaStart = -1;
  }

  write(chunk: string): void {
    this.buffer = this.buffer.length === 0 ? chunk : this.buffer + chunk;
    const text = this.buffer;
    let position = this.scanFrom;
    const length = text.length;
    while (position < length) {
      const tagStart = text.indexOf('<', position);
      if (tagStart < 0) {
        position = length;
        break;
      }
      const tagEnd = findTagEnd(text, tagStart + 1);
      if (tagEnd < 0) {
        position = tagStart; // incomplete tag: wait for more bytes
        break;
      }
      position = tagEnd + 1;
      const kind = text.charCodeAt(tagStart + 1);
      if (kind === QUESTION) continue;
      if (kind === SLASH) {
        this.depth--;
        if (this.depth === 1 && this.stanzaStart >= 0) {
          this.sink.onStanza(text.slice(this.stanzaStart, position));
          this.stanzaStart = -1;
        } else if (this.depth <= 0) {
          this.depth = 0;
          this.sink.onStreamEnd();
        }
        continue;
      }
      const selfClosing = text.charCodeAt(tagEnd - 1) === SLASH;
      if (this.depth === 0) {
        // The stream header never closes here; a self-closing root would be a WebSocket <open/>.
        this.sink.onStreamHeader(text.slice(tagStart, position));
        if (!selfClosing) this.depth = 1;
        continue;
      }
      if (this.depth === 1) {
        if (selfClosing) {
          this.sink.onStanza(text.slice(tagStart, position));
          continue;
        }
        this.stanzaStart = tagStart;
      }
      if (!selfClosing) this.depth++;
    }
    this.compact(position);
  }

  /** Drop consumed text so the buffer only holds the unfinished stanza or tag. */
  private compact(position: number): void {
    const keepFrom = this.stanzaStart >= 0 ? this.stanzaStart : position;
    if (keepFrom > 0) {
      this.buffer = this.buffer.slice(keepFrom);
      if (this.stanzaStart >= 0) this.stanzaStart -= keepFrom;
      this.scanFrom = position - keepFrom;
    } else {
      this.scanFrom = position;
    }
  }
}

/** Index of the `>` closing the tag that starts before `from`, skipping quoted values; -1 if incomplete. */
function findTagEnd(text: string, from: number): number {
  let quote = 0;
  for (let index = from; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (quote !== 0) {
      if (code === quote) quote = 0;
    } else if (code === GREATER_THAN) {
      return index;
    } else if (code === DOUBLE_QUOTE || code === SINGLE_QUOTE) {
      quote = code;
    } else if (code === LESS_THAN) {
      // Malformed input; treat as a tag boundary so we never loop forever.
      return index - 1;
    }
  }
  return -1;
}

/** Value of attribute `name` on the first tag of `element`, unescaped only for the common entities. */
export function attribute(element: string, name: string): string | undefined {
  const tagEnd = element.indexOf('>');
  const head = tagEnd < 0 ? element : element.slice(0, tagEnd);
  for (const quote of ['"', "'"]) {
    const marker = ` ${name}=${quote}`;
    const start = head.indexOf(marker);
    if (start >= 0) {
      const valueStart = start + marker.length;
      const valueEnd = head.indexOf(quote, valueStart);
      return unescapeXml(head.slice(valueStart, valueEnd));
    }
  }
  return undefined;
}

/** Text content of the first `<name …>text</name>` inside `element` (no nesting assumed). */
export function childText(element: string, name: string): string | undefined {
  const open = element.indexOf(`<${name}`);
  if (open < 0) return undefined;
  const contentStart = element.indexOf('>', open);
  if (contentStart < 0 || element.charCodeAt(contentStart - 1) === SLASH) return '';
  const close = element.indexOf(`</${name}>`, contentStart);
  if (close < 0) return undefined;
  return unescapeXml(element.slice(contentStart + 1, close));
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function unescapeXml(text: string): string {
  if (text.indexOf('&') < 0) return text;
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}
