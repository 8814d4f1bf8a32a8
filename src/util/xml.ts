/**
 * The element tree stanzas are held in. Deliberately small: a name, an
 * attribute record and children. Serialisation escapes once, on the way out;
 * the parser unescapes once, on the way in; nothing in between re-parses.
 */
export type XmlNode = XmlElement | string;
export type Attrs = Record<string, string | undefined>;

export class XmlElement {
  name: string;
  attrs: Attrs;
  children: XmlNode[];
  parent: XmlElement | null;

  constructor(name: string, attrs?: Attrs | null, children?: XmlNode[]) {
    this.name = name;
    this.attrs = attrs ?? {};
    this.children = children ?? [];
    this.parent = null;
  }

  attr(name: string): string | undefined {
    return this.attrs[name];
  }

  get xmlns(): string | undefined {
    return this.attrs.xmlns;
  }

  /** Namespace of this element, inherited from its parents when not declared on it. */
  getNS(): string | undefined {
    let el: XmlElement | null = this;
    while (el !== null) {
      const ns = el.attrs.xmlns;
      if (ns !== undefined) return ns;
      el = el.parent;
    }
    return undefined;
  }

  /** First child element with this name (and namespace, when given). */
  getChild(name: string, xmlns?: string): XmlElement | undefined {
    for (const c of this.children) {
      if (typeof c !== 'string' && c.name === name && (xmlns === undefined || c.getNS() === xmlns)) return c;
    }
    return undefined;
  }

  /** First child element in this namespace, whatever its name. */
  getChildByNS(xmlns: string): XmlElement | undefined {
    for (const c of this.children) if (typeof c !== 'string' && c.attrs.xmlns === xmlns) return c;
    return undefined;
  }

  getChildren(name?: string, xmlns?: string): XmlElement[] {
    const out: XmlElement[] = [];
    for (const c of this.children) {
      if (typeof c === 'string') continue;
      if (name !== undefined && c.name !== name) continue;
      if (xmlns !== undefined && c.getNS() !== xmlns) continue;
      out.push(c);
    }
    return out;
  }

  elements(): XmlElement[] {
    return this.getChildren();
  }

  getText(): string {
    let s = '';
    for (const c of this.children) if (typeof c === 'string') s += c;
    return s;
  }

  getChildText(name: string, xmlns?: string): string | undefined {
    return this.getChild(name, xmlns)?.getText();
  }

  /** Appends a child and returns it (elements) or this (text), for building. */
  c(name: string, attrs?: Attrs | null): XmlElement {
    const child = new XmlElement(name, attrs);
    child.parent = this;
    this.children.push(child);
    return child;
  }

  t(text: string): this {
    this.children.push(text);
    return this;
  }

  append(...nodes: (XmlNode | undefined | null | false)[]): this {
    for (const n of nodes) {
      if (n === undefined || n === null || n === false) continue;
      if (typeof n !== 'string') n.parent = this;
      this.children.push(n);
    }
    return this;
  }

  up(): XmlElement {
    return this.parent ?? this;
  }

  remove(name: string, xmlns?: string): this {
    this.children = this.children.filter((c) => typeof c === 'string' || c.name !== name || (xmlns !== undefined && c.getNS() !== xmlns));
    return this;
  }

  /**
   * Deep copy, detached from any parent. Children arrays are made at their exact size (`map`), where pushing
   * would leave room for 17: a copy kept for a session's lifetime (its presence) is ~150 bytes smaller per element.
   */
  clone(): XmlElement {
    const copy = new XmlElement(this.name, { ...this.attrs });
    copy.children = this.children.map((c) => {
      if (typeof c === 'string') return c;
      const cc = c.clone();
      cc.parent = copy;
      return cc;
    });
    return copy;
  }

  /**
   * The same element under other attributes (a stanza readdressed), sharing this one's children. They stay this
   * one's: a copy made to be sent and dropped must not become their parent, or an element kept for long (a
   * session's presence) would keep its last such copy alive through them. Appending to the copy leaves this
   * one's children as they are.
   */
  withAttrs(attrs: Attrs): XmlElement {
    return new XmlElement(this.name, attrs, this.children.slice());
  }

  toString(): string {
    return serialize(this);
  }
}

/** Builder: `x('iq', { type: 'result' }, x('query', { xmlns }))`. */
export function x(name: string, attrs?: Attrs | null, ...children: (XmlNode | undefined | null | false)[]): XmlElement {
  for (let i = 0; i < children.length; i++) {
    const c = children[i];
    if (c === undefined || c === null || c === false) {
      const el = new XmlElement(name, attrs);
      el.append(...children);
      return el;
    }
  }
  // The rest array is new and of exact size: it becomes the children as is, instead of being pushed into a second.
  const el = new XmlElement(name, attrs, children as XmlNode[]);
  for (let i = 0; i < children.length; i++) {
    const c = children[i] as XmlNode;
    if (typeof c !== 'string') c.parent = el;
  }
  return el;
}

const ESCAPE_TEXT = /[&<>]/;
const ESCAPE_ATTR = /[&<>"']/;

export function escapeText(s: string): string {
  if (!ESCAPE_TEXT.test(s)) return s;
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function escapeAttr(s: string): string {
  if (!ESCAPE_ATTR.test(s)) return s;
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

export function serialize(el: XmlElement): string {
  let s = '<' + el.name;
  const attrs = el.attrs;
  for (const k in attrs) {
    const v = attrs[k];
    if (v !== undefined) s += ' ' + k + '="' + escapeAttr(v) + '"';
  }
  const children = el.children;
  if (children.length === 0) return s + '/>';
  s += '>';
  for (let i = 0; i < children.length; i++) {
    const c = children[i]!;
    s += typeof c === 'string' ? escapeText(c) : serialize(c);
  }
  return s + '</' + el.name + '>';
}

/** Serialises only the opening tag (for stream headers). */
export function openTag(name: string, attrs: Attrs): string {
  let s = '<' + name;
  for (const k in attrs) {
    const v = attrs[k];
    if (v !== undefined) s += ' ' + k + '="' + escapeAttr(v) + '"';
  }
  return s + '>';
}
