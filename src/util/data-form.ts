import { x, type XmlElement } from './xml.js';

/**
 * XEP-0004 data forms as plain values. Modules (ad-hoc commands, MAM queries,
 * push options, registration) read submitted forms and build forms through
 * these two functions instead of walking `<x xmlns='jabber:x:data'>` by hand.
 * Pure: no I/O, no module state.
 */
export const NS_DATA = 'jabber:x:data';

export type FormType = 'form' | 'submit' | 'cancel' | 'result';

export type FieldType =
  | 'boolean'
  | 'fixed'
  | 'hidden'
  | 'jid-multi'
  | 'jid-single'
  | 'list-multi'
  | 'list-single'
  | 'text-multi'
  | 'text-private'
  | 'text-single';

const FORM_TYPES: ReadonlySet<string> = new Set<FormType>(['form', 'submit', 'cancel', 'result']);
const FIELD_TYPES: ReadonlySet<string> = new Set<FieldType>([
  'boolean',
  'fixed',
  'hidden',
  'jid-multi',
  'jid-single',
  'list-multi',
  'list-single',
  'text-multi',
  'text-private',
  'text-single',
]);

export interface FieldOption {
  label?: string;
  value: string;
}

export interface FormField {
  /** Absent only on 'fixed' fields. */
  var?: string;
  /** Absent in submissions, where the type is implied by the form that was filled. */
  type?: FieldType;
  label?: string;
  desc?: string;
  required?: boolean;
  /** Every `<value/>`, in order (several for *-multi fields). */
  values: string[];
  options?: FieldOption[];
}

export interface DataForm {
  type: FormType;
  title?: string;
  instructions?: string[];
  fields: FormField[];
  /** Column headers of a multi-item result (XEP-0004 §3.4). */
  reported?: FormField[];
  /** Rows of a multi-item result, each a list of fields. */
  items?: FormField[][];
}

export class DataFormError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataFormError';
  }
}

function parseField(el: XmlElement): FormField {
  const field: FormField = { values: [] };
  const v = el.attrs.var;
  if (v !== undefined) field.var = v;
  const t = el.attrs.type;
  if (t !== undefined) {
    if (!FIELD_TYPES.has(t)) throw new DataFormError(`unknown field type '${t}'`);
    field.type = t as FieldType;
  }
  if (el.attrs.label !== undefined) field.label = el.attrs.label;
  for (const c of el.elements()) {
    if (c.name === 'value') field.values.push(c.getText());
    else if (c.name === 'desc') field.desc = c.getText();
    else if (c.name === 'required') field.required = true;
    else if (c.name === 'option') {
      const label = c.attrs.label;
      (field.options ??= []).push({ ...(label !== undefined ? { label } : {}), value: c.getChildText('value') ?? '' });
    }
  }
  return field;
}

/** Parses an `<x xmlns='jabber:x:data'>` element; throws DataFormError when it is not one. */
export function parseForm(el: XmlElement): DataForm {
  if (el.name !== 'x' || el.attrs.xmlns !== NS_DATA) throw new DataFormError('not a jabber:x:data form');
  const type = el.attrs.type ?? '';
  if (!FORM_TYPES.has(type)) throw new DataFormError(`bad form type '${type}'`);
  const form: DataForm = { type: type as FormType, fields: [] };
  for (const c of el.elements()) {
    switch (c.name) {
      case 'title':
        form.title = c.getText();
        break;
      case 'instructions':
        (form.instructions ??= []).push(c.getText());
        break;
      case 'field':
        form.fields.push(parseField(c));
        break;
      case 'reported':
        form.reported = c.getChildren('field').map(parseField);
        break;
      case 'item':
        (form.items ??= []).push(c.getChildren('field').map(parseField));
        break;
    }
  }
  return form;
}

/** The first data form among `parent`'s children, optionally the one with this FORM_TYPE. */
export function findForm(parent: XmlElement, formType?: string): DataForm | undefined {
  for (const c of parent.getChildren('x', NS_DATA)) {
    const form = parseForm(c);
    if (formType === undefined || getFormType(form) === formType) return form;
  }
  return undefined;
}

function buildField(f: FormField): XmlElement {
  const el = x('field', { var: f.var, type: f.type, label: f.label });
  if (f.desc !== undefined) el.append(x('desc', null, f.desc));
  if (f.required) el.append(x('required'));
  for (const v of f.values) el.append(x('value', null, v));
  for (const o of f.options ?? []) el.append(x('option', { label: o.label }, x('value', null, o.value)));
  return el;
}

/** Builds the `<x xmlns='jabber:x:data'>` element for a form. */
export function buildForm(form: DataForm): XmlElement {
  const el = x('x', { xmlns: NS_DATA, type: form.type });
  if (form.title !== undefined) el.append(x('title', null, form.title));
  for (const i of form.instructions ?? []) el.append(x('instructions', null, i));
  if (form.reported !== undefined) el.append(x('reported', null, ...form.reported.map(buildField)));
  for (const item of form.items ?? []) el.append(x('item', null, ...item.map(buildField)));
  for (const f of form.fields) el.append(buildField(f));
  return el;
}

/** The hidden FORM_TYPE field (XEP-0068), for building forms. */
export function formTypeField(ns: string): FormField {
  return { var: 'FORM_TYPE', type: 'hidden', values: [ns] };
}

export function getField(form: DataForm, name: string): FormField | undefined {
  return form.fields.find((f) => f.var === name);
}

export function getFormType(form: DataForm): string | undefined {
  return getField(form, 'FORM_TYPE')?.values[0];
}

/** First value of a field; undefined when the field is absent or has no value. */
export function getValue(form: DataForm, name: string): string | undefined {
  return getField(form, name)?.values[0];
}

/** Every value of a field (empty when absent). */
export function getValues(form: DataForm, name: string): string[] {
  return getField(form, name)?.values ?? [];
}

/** A boolean field's value (XEP-0004 §3.3: "1"/"true" or "0"/"false"); undefined when absent; throws on anything else. */
export function getBoolean(form: DataForm, name: string): boolean | undefined {
  const v = getValue(form, name);
  if (v === undefined) return undefined;
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  throw new DataFormError(`field '${name}' is not a boolean: '${v}'`);
}

/**
 * An XEP-0128 extension of a disco#info result: a result form with its
 * FORM_TYPE and one list-multi field of addresses (URIs) per entry, the shape
 * that XEP-0157 (contact addresses) and XEP-0455 (outage status) share. Lists
 * without values get no field, and a form without fields is undefined, so that
 * a service with nothing configured advertises nothing.
 */
export function addressListForm(formType: string, lists: ReadonlyArray<readonly [field: string, addresses: readonly string[]]>): XmlElement | undefined {
  const fields = lists.filter(([, addresses]) => addresses.length > 0).map(([field, addresses]): FormField => ({ var: field, type: 'list-multi', values: [...addresses] }));
  return fields.length === 0 ? undefined : buildForm({ type: 'result', fields: [formTypeField(formType), ...fields] });
}
