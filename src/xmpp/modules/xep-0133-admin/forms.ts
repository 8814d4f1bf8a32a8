import { formTypeField, getValue, getValues, type DataForm, type FormField } from '../../../util/data-form.js';
import { x } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { NS_COMMANDS, type AdhocCommand, type CommandRequest, type CommandResponse } from '../xep-0050-adhoc/api.js';

export const NS_ADMIN = 'http://jabber.org/protocol/admin';

/** Registers one admin command (node `NS_ADMIN#name`), runnable by server admins only; undone when the module stops. */
export type AddAdminCommand = (name: string, title: string, execute: AdhocCommand['execute']) => void;

/** A form to fill: title, instructions and fields after the FORM_TYPE. */
export function adminForm(title: string, instructions: string, fields: FormField[]): DataForm {
  return { type: 'form', title, instructions: [instructions], fields: [formTypeField(NS_ADMIN), ...fields] };
}

export function adminResult(fields: FormField[]): DataForm {
  return { type: 'result', fields: [formTypeField(NS_ADMIN), ...fields] };
}

/**
 * The usual two-stage shape of an XEP-0133 command: the first request gets
 * the form, the submission is processed. A first request that already
 * carries a filled form (XEP-0050 allows it) is processed at once.
 */
export async function formThenProcess(req: CommandRequest, form: DataForm, process: (submitted: DataForm) => Promise<CommandResponse>): Promise<CommandResponse> {
  if (req.form?.type === 'submit') return process(req.form);
  if (req.stage > 0) throw new StanzaError('bad-request', 'submit the form', undefined, x('bad-payload', { xmlns: NS_COMMANDS }));
  return { status: 'executing', form, actions: ['complete'], execute: 'complete' };
}

export const done = (text?: string): CommandResponse => ({ status: 'completed', notes: text === undefined ? undefined : [{ type: 'info', text }] });

/** The max_items field of the XEP's user lists (§4.18, §4.20). */
export function maxItemsField(): FormField {
  return {
    var: 'max_items',
    type: 'list-single',
    label: 'Maximum number of items to show',
    values: ['25'],
    options: ['25', '50', '75', '100', '150', '200', 'none'].map((v) => ({ label: v, value: v })),
  };
}

/** The submitted max_items: a positive number, or Infinity for 'none' (and when absent). */
export function maxItems(form: DataForm): number {
  const max = getValue(form, 'max_items') ?? 'none';
  const limit = max === 'none' ? Infinity : Number(max);
  if (!(limit > 0)) throw new StanzaError('bad-request', `bad max_items: ${max}`);
  return limit;
}

/** A text-multi field's lines as one text (XEP-0004 §3.3: each value is a line). */
export function multiLine(form: DataForm, name: string): string {
  const text = getValues(form, name).join('\n');
  if (text.trim() === '') throw new StanzaError('bad-request', `${name} is required`);
  return text;
}
