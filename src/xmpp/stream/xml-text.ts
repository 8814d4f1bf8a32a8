import { ParseError } from './parse-error.js';

/**
 * The parts of XML text the stream parser hands over whole: the XML
 * declaration, and entity and character references. Called once per token
 * that has them, never per character.
 */

const NAMED_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/**
 * The one processing instruction allowed, the XML declaration (RFC 6120
 * §11.1), and only in UTF-8 (§11.6). `text` is what stands between `<?` and `?>`.
 */
export function checkDeclaration(text: string): void {
  if (!/^xml(\s|$)/.test(text)) throw new ParseError('restricted-xml', 'processing instructions are not allowed');
  const encoding = /\sencoding\s*=\s*["']([^"']*)["']/.exec(text)?.[1];
  if (encoding !== undefined && encoding.toLowerCase() !== 'utf-8' && encoding.toLowerCase() !== 'utf8') throw new ParseError('unsupported-encoding', `the stream must be UTF-8, not ${encoding}`);
}

/** Resolves the five predefined entities and character references; anything else is restricted XML. */
export function decodeEntities(s: string): string {
  if (s.indexOf('&') === -1) return s;
  let out = '';
  let i = 0;
  while (i < s.length) {
    const amp = s.indexOf('&', i);
    if (amp === -1) {
      out += s.slice(i);
      break;
    }
    out += s.slice(i, amp);
    const semi = s.indexOf(';', amp);
    if (semi === -1 || semi - amp > 12) throw new ParseError('not-well-formed', 'unterminated entity reference');
    const ref = s.slice(amp + 1, semi);
    if (ref.charCodeAt(0) === 35 /* # */) {
      const hex = ref[1] === 'x';
      const digits = hex ? ref.slice(2) : ref.slice(1);
      if (!(hex ? /^[0-9a-fA-F]+$/ : /^[0-9]+$/).test(digits)) throw new ParseError('not-well-formed', `bad character reference &${ref};`);
      const cp = parseInt(digits, hex ? 16 : 10);
      if (!isXmlChar(cp)) throw new ParseError('not-well-formed', `character reference to a non-XML character &${ref};`);
      out += String.fromCodePoint(cp);
    } else {
      const named = NAMED_ENTITIES[ref];
      if (named === undefined) throw new ParseError('restricted-xml', `entity &${ref}; is not allowed in XMPP`);
      out += named;
    }
    i = semi + 1;
  }
  return out;
}

function isXmlChar(cp: number): boolean {
  return cp === 9 || cp === 10 || cp === 13 || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}
