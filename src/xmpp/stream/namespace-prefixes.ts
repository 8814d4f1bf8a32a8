import type { Attrs, XmlElement } from '../../util/xml.js';
import { ParseError } from './parse-error.js';
import { NS_STREAM } from '../rfc6120-namespaces.js';

const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const NONE: Attrs = Object.freeze({});
/** What nearly every stream header declares: one object for all the streams that declare only that. */
const STREAM_PREFIX_ONLY: Attrs = Object.freeze({ 'xmlns:stream': NS_STREAM });

/** The prefix declarations of a stream header, which its stanzas may use. */
export function declaredPrefixes(header: Attrs): Attrs {
  const prefixes: Attrs = {};
  let count = 0;
  for (const key in header) {
    if (!key.startsWith('xmlns:')) continue;
    prefixes[key] = header[key];
    count++;
  }
  if (count === 0) return NONE;
  return count === 1 && prefixes['xmlns:stream'] === NS_STREAM ? STREAM_PREFIX_ONLY : prefixes;
}

/**
 * Namespaces in XML (XML-NAMES §5, §6.3) for an element whose tag has just
 * been read: the prefix of its name and of each of its attributes must be
 * declared on it or on an element it is inside (`ancestors`, the stream
 * header's declarations in `streamPrefixes`), and no two attributes may
 * have the same local name in the same namespace. An undeclared prefix
 * would be passed on to recipients as it came, and their namespace-aware
 * parsers would end their streams on it.
 *
 * The element tree keeps prefixed names as written. A stanza goes on
 * without the stream header, so a prefix it takes from there is declared
 * again on the stanza (`stanza`, its attributes), as its recipients'
 * streams (a WebSocket message stands alone) need it to be.
 *
 * Called for a tag with a prefixed name or prefixed attributes, which
 * ordinary stanzas (but for xml:lang) do not have.
 */
export function checkPrefixes(name: string, attrs: Attrs, ancestors: readonly XmlElement[], stanza: Attrs, streamPrefixes: Attrs, prefixedAttributes: boolean): void {
  const colon = name.indexOf(':');
  if (colon !== -1) resolve(name.slice(0, colon), attrs, ancestors, stanza, streamPrefixes);
  if (!prefixedAttributes) return;
  let seen: string[] | null = null;
  for (const key in attrs) {
    const c = key.indexOf(':');
    if (c === -1) continue;
    const prefix = key.slice(0, c);
    if (prefix === 'xmlns') continue;
    const expanded = resolve(prefix, attrs, ancestors, stanza, streamPrefixes) + ' ' + key.slice(c + 1);
    seen ??= [];
    if (seen.includes(expanded)) throw new ParseError('not-well-formed', `attribute ${key} repeats another in the same namespace`);
    seen.push(expanded);
  }
}

/** The namespace `prefix` is bound to where the tag is. */
function resolve(prefix: string, attrs: Attrs, ancestors: readonly XmlElement[], stanza: Attrs, streamPrefixes: Attrs): string {
  if (prefix === 'xml') return XML_NS;
  const declaration = 'xmlns:' + prefix;
  let ns = attrs[declaration];
  for (let k = ancestors.length - 1; ns === undefined && k >= 0; k--) ns = ancestors[k]!.attrs[declaration];
  if (ns === undefined) {
    ns = streamPrefixes[declaration];
    if (ns !== undefined) stanza[declaration] = ns;
  }
  if (ns === undefined || ns === '') throw new ParseError('not-well-formed', `namespace prefix ${prefix} is not declared`);
  return ns;
}
