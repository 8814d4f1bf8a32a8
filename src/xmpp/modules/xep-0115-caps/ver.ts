import { createHash } from 'node:crypto';
import type { XmlElement } from '../../../util/xml.js';

/** An identity as XEP-0115 §5.1 hashes it (xml:lang is part of it). */
export interface CapsIdentity {
  category: string;
  type: string;
  lang?: string;
  name?: string;
}

/** XEP-0115 §5.1 sorts by "i;octet" collation: UTF-8 bytes, not UTF-16 code units. */
function octetCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function formType(form: XmlElement): string | undefined {
  for (const f of form.getChildren('field')) if (f.attrs.var === 'FORM_TYPE') return f.getChildText('value');
  return undefined;
}

/**
 * The verification string S of XEP-0115 §5.1 (before hashing): identities,
 * then features, then XEP-0128 forms, each term followed by '<'. Forms without
 * a FORM_TYPE are ignored, as §5.1 step 6 says.
 */
export function verificationString(identities: readonly CapsIdentity[], features: readonly string[], forms: readonly XmlElement[]): string {
  let s = '';
  const ids = identities.map((i) => `${i.category}/${i.type}/${i.lang ?? ''}/${i.name ?? ''}`).sort(octetCompare);
  for (const i of ids) s += i + '<';
  for (const f of [...features].sort(octetCompare)) s += f + '<';
  const typed = forms.filter((f) => f.name === 'x' && formType(f) !== undefined).map((f) => ({ type: formType(f)!, form: f }));
  typed.sort((a, b) => octetCompare(a.type, b.type));
  for (const { type, form } of typed) {
    s += type + '<';
    const fields = form.getChildren('field').filter((f) => f.attrs.var !== undefined && f.attrs.var !== 'FORM_TYPE');
    fields.sort((a, b) => octetCompare(a.attrs.var!, b.attrs.var!));
    for (const field of fields) {
      s += field.attrs.var! + '<';
      for (const v of field.getChildren('value').map((e) => e.getText()).sort(octetCompare)) s += v + '<';
    }
  }
  return s;
}

/** The `ver` attribute: base64 of the SHA-1 of S (XEP-0115 §5.1 step 7–8). */
export function capsVer(identities: readonly CapsIdentity[], features: readonly string[], forms: readonly XmlElement[]): string {
  return createHash('sha1').update(verificationString(identities, features, forms), 'utf8').digest('base64');
}

const hasLt = (s: string | undefined): boolean => s !== undefined && s.includes('<');
const badPart = (s: string | undefined): boolean => s === undefined || s === '' || s.includes('/') || s.includes('<');

/**
 * Whether S can be read back into terms only one way. It cannot when a term
 * holds the '<' that separates terms, or an identity's category, type or lang
 * is empty or holds the '/' that separates them: then another set of features
 * gives the same S, hence the same ver (the preimage attack XEP-0390 §1
 * recalls), so an answer that hashes to ver proves nothing about others
 * announcing it.
 */
export function unambiguous(identities: readonly CapsIdentity[], features: readonly string[], forms: readonly XmlElement[]): boolean {
  for (const i of identities) if (badPart(i.category) || badPart(i.type) || (i.lang !== undefined && badPart(i.lang)) || hasLt(i.name)) return false;
  for (const f of features) if (hasLt(f)) return false;
  for (const form of forms) {
    for (const field of form.getChildren('field')) {
      if (hasLt(field.attrs.var)) return false;
      for (const v of field.getChildren('value')) if (hasLt(v.getText())) return false;
    }
  }
  return true;
}

