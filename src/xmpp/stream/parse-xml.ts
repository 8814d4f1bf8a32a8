import { XmppParser } from './parser.js';
import type { XmlElement } from '../../util/xml.js';

/** Parses one XML element from a string (stored stanzas, tests, tools; never the wire), as it was accepted when stored. */
export function parseXml(text: string): XmlElement {
  let out: XmlElement | undefined;
  const p = new XmppParser({ onStreamStart: () => {}, onStanza: (el) => (out ??= el), onStreamEnd: () => {} }, { maxStanzaSize: 16 * 1024 * 1024, maxDepth: 256, maxAttributes: 256 }, true, false);
  p.write(text);
  if (out === undefined) throw new Error(`not a complete element: ${text.slice(0, 100)}`);
  return out;
}
