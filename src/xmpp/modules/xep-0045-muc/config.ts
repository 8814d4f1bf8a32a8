import { buildForm, DataFormError, formTypeField, getFormType, getValue, getValues, type DataForm, type FormField } from '../../../util/data-form.js';
import type { XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';

/**
 * A room's configuration (XEP-0045 §10.2, the muc#roomconfig FORM_TYPE) as a
 * plain value, with the form that shows it and the parser of submitted forms.
 * Pure: no I/O, no room state.
 */
export const NS_ROOMCONFIG = 'http://jabber.org/protocol/muc#roomconfig';
export const NS_ROOMINFO = 'http://jabber.org/protocol/muc#roominfo';

export type Whois = 'moderators' | 'anyone';
export type AllowPm = 'anyone' | 'participants' | 'moderators' | 'none';

export interface RoomConfig {
  name: string;
  description: string;
  lang: string;
  persistent: boolean;
  public: boolean;
  membersOnly: boolean;
  moderated: boolean;
  /** Empty: no password. */
  password: string;
  whois: Whois;
  /** 0: no limit. */
  maxUsers: number;
  changeSubject: boolean;
  allowInvites: boolean;
  allowPm: AllowPm;
  historyLength: number;
  /** XEP-0313 archive of the room's messages. */
  archiving: boolean;
}

export interface ConfigDefaults {
  persistent: boolean;
  public: boolean;
  historyLength: number;
  maxHistoryLength: number;
  archiving: boolean;
}

export function defaultConfig(d: ConfigDefaults): RoomConfig {
  return {
    name: '',
    description: '',
    lang: '',
    persistent: d.persistent,
    public: d.public,
    membersOnly: false,
    moderated: false,
    password: '',
    whois: 'moderators',
    maxUsers: 0,
    changeSubject: false,
    allowInvites: false,
    allowPm: 'anyone',
    historyLength: Math.min(d.historyLength, d.maxHistoryLength),
    archiving: d.archiving,
  };
}

const MAX_USERS_OPTIONS = ['5', '10', '20', '30', '50', '100', '200', '500', '1000'];
const bool = (b: boolean): string => (b ? '1' : '0');

/** The owner's configuration form (§10.1.2), filled with the current values. */
export function configForm(c: RoomConfig, opts: { archivingAvailable: boolean; maxHistoryLength: number }): XmlElement {
  const fields: FormField[] = [
    formTypeField(NS_ROOMCONFIG),
    { var: 'muc#roomconfig_roomname', type: 'text-single', label: 'Name', values: [c.name] },
    { var: 'muc#roomconfig_roomdesc', type: 'text-single', label: 'Description', values: [c.description] },
    { var: 'muc#roomconfig_lang', type: 'text-single', label: 'Language of discussion', values: [c.lang] },
    { var: 'muc#roomconfig_persistentroom', type: 'boolean', label: 'Persistent (kept when the last occupant leaves)', values: [bool(c.persistent)] },
    { var: 'muc#roomconfig_publicroom', type: 'boolean', label: 'Listed in the directory of rooms', values: [bool(c.public)] },
    { var: 'muc#roomconfig_membersonly', type: 'boolean', label: 'Members only', values: [bool(c.membersOnly)] },
    { var: 'muc#roomconfig_moderatedroom', type: 'boolean', label: 'Moderated (visitors have no voice)', values: [bool(c.moderated)] },
    { var: 'muc#roomconfig_passwordprotectedroom', type: 'boolean', label: 'Password protected', values: [bool(c.password !== '')] },
    { var: 'muc#roomconfig_roomsecret', type: 'text-private', label: 'Password', values: [c.password] },
    {
      var: 'muc#roomconfig_whois',
      type: 'list-single',
      label: 'Who may see real JIDs',
      values: [c.whois],
      options: [
        { label: 'Moderators only', value: 'moderators' },
        { label: 'Anyone', value: 'anyone' },
      ],
    },
    {
      var: 'muc#roomconfig_maxusers',
      type: 'list-single',
      label: 'Maximum number of occupants',
      values: [c.maxUsers === 0 ? 'none' : String(c.maxUsers)],
      options: [...MAX_USERS_OPTIONS.map((v) => ({ value: v })), { label: 'No limit', value: 'none' }],
    },
    { var: 'muc#roomconfig_changesubject', type: 'boolean', label: 'Occupants may change the subject', values: [bool(c.changeSubject)] },
    { var: 'muc#roomconfig_allowinvites', type: 'boolean', label: 'Occupants may invite others', values: [bool(c.allowInvites)] },
    {
      var: 'muc#roomconfig_allowpm',
      type: 'list-single',
      label: 'Who may send private messages',
      values: [c.allowPm],
      options: (['anyone', 'participants', 'moderators', 'none'] as const).map((v) => ({ value: v })),
    },
    { var: 'muc#roomconfig_historylength', type: 'text-single', label: `Messages of history kept (at most ${opts.maxHistoryLength})`, values: [String(c.historyLength)] },
  ];
  if (opts.archivingAvailable) fields.push({ var: 'muc#roomconfig_enablearchiving', type: 'boolean', label: 'Archive messages (XEP-0313)', values: [bool(c.archiving)] });
  return buildForm({ type: 'form', title: 'Room configuration', instructions: ['Configure the room'], fields });
}

function parseBool(form: DataForm, name: string): boolean | undefined {
  const v = getValue(form, name);
  if (v === undefined) return undefined;
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  throw new StanzaError('not-acceptable', `${name} is not a boolean`);
}

/** Applies a submitted form (§10.1.3) to a copy of `c`; fields absent keep their values. Throws not-acceptable on bad values. */
export function applyConfigForm(c: RoomConfig, form: DataForm, opts: { maxHistoryLength: number }): RoomConfig {
  const t = getFormType(form);
  if (t !== undefined && t !== NS_ROOMCONFIG) throw new StanzaError('bad-request', `FORM_TYPE must be ${NS_ROOMCONFIG}`);
  const next = { ...c };
  try {
    const text = (name: string): string | undefined => (form.fields.some((f) => f.var === name) ? getValues(form, name).join('\n') : undefined);
    next.name = text('muc#roomconfig_roomname') ?? next.name;
    next.description = text('muc#roomconfig_roomdesc') ?? next.description;
    next.lang = text('muc#roomconfig_lang') ?? next.lang;
    next.persistent = parseBool(form, 'muc#roomconfig_persistentroom') ?? next.persistent;
    next.public = parseBool(form, 'muc#roomconfig_publicroom') ?? next.public;
    next.membersOnly = parseBool(form, 'muc#roomconfig_membersonly') ?? next.membersOnly;
    next.moderated = parseBool(form, 'muc#roomconfig_moderatedroom') ?? next.moderated;
    next.changeSubject = parseBool(form, 'muc#roomconfig_changesubject') ?? next.changeSubject;
    next.allowInvites = parseBool(form, 'muc#roomconfig_allowinvites') ?? next.allowInvites;
    next.archiving = parseBool(form, 'muc#roomconfig_enablearchiving') ?? next.archiving;
    const secret = getValue(form, 'muc#roomconfig_roomsecret');
    if (secret !== undefined) next.password = secret;
    const protectedRoom = parseBool(form, 'muc#roomconfig_passwordprotectedroom');
    if (protectedRoom === false) next.password = '';
    if (protectedRoom === true && next.password === '') throw new StanzaError('not-acceptable', 'a password-protected room needs muc#roomconfig_roomsecret');
    const whois = getValue(form, 'muc#roomconfig_whois');
    if (whois !== undefined) {
      if (whois !== 'moderators' && whois !== 'anyone') throw new StanzaError('not-acceptable', "muc#roomconfig_whois must be 'moderators' or 'anyone'");
      next.whois = whois;
    }
    const max = getValue(form, 'muc#roomconfig_maxusers');
    if (max !== undefined) {
      if (max === 'none' || max === '' || max === '0') next.maxUsers = 0;
      else if (/^\d+$/.test(max)) next.maxUsers = Number(max);
      else throw new StanzaError('not-acceptable', 'muc#roomconfig_maxusers must be a number or none');
    }
    const pm = getValue(form, 'muc#roomconfig_allowpm');
    if (pm !== undefined) {
      if (pm !== 'anyone' && pm !== 'participants' && pm !== 'moderators' && pm !== 'none') throw new StanzaError('not-acceptable', 'bad muc#roomconfig_allowpm');
      next.allowPm = pm;
    }
    const hist = getValue(form, 'muc#roomconfig_historylength');
    if (hist !== undefined && hist !== '') {
      if (!/^\d+$/.test(hist)) throw new StanzaError('not-acceptable', 'muc#roomconfig_historylength must be a number');
      next.historyLength = Math.min(Number(hist), opts.maxHistoryLength);
    }
  } catch (e) {
    if (e instanceof DataFormError) throw new StanzaError('not-acceptable', e.message);
    throw e;
  }
  return next;
}

/** Disco features that describe a room (§6.4, §15.3 registrar). */
export function roomFeatures(c: RoomConfig): string[] {
  return [
    c.public ? 'muc_public' : 'muc_hidden',
    c.persistent ? 'muc_persistent' : 'muc_temporary',
    c.membersOnly ? 'muc_membersonly' : 'muc_open',
    c.whois === 'anyone' ? 'muc_nonanonymous' : 'muc_semianonymous',
    c.password !== '' ? 'muc_passwordprotected' : 'muc_unsecured',
    c.moderated ? 'muc_moderated' : 'muc_unmoderated',
  ];
}

/** The muc#roominfo extended info form (§6.4, XEP-0128); `avatarHashes`: XEP-0486 §3.3, the field only when there are some. */
export function roomInfoForm(c: RoomConfig, occupants: number, subject: string, avatarHashes: readonly string[] = []): XmlElement {
  const fields: FormField[] = [
    formTypeField(NS_ROOMINFO),
    { var: 'muc#roominfo_description', label: 'Description', values: [c.description] },
    { var: 'muc#roominfo_occupants', label: 'Number of occupants', values: [String(occupants)] },
    { var: 'muc#roominfo_subject', label: 'Subject', values: [subject] },
    { var: 'muc#roominfo_lang', label: 'Language', values: [c.lang] },
    { var: 'muc#roomconfig_roomname', label: 'Name', values: [c.name] },
    { var: 'muc#roomconfig_changesubject', label: 'Occupants may change the subject', values: [bool(c.changeSubject)] },
    { var: 'muc#maxhistoryfetch', label: 'Maximum number of history messages returned by the room', values: [String(c.historyLength)] },
  ];
  if (avatarHashes.length > 0) fields.push({ var: 'muc#roominfo_avatarhash', type: 'text-multi', label: 'Avatar hash', values: [...avatarHashes] });
  return buildForm({ type: 'result', fields });
}
