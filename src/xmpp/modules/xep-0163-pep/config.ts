import { buildForm, formTypeField, type DataForm, type FormField } from '../../../util/data-form.js';

/**
 * PEP node configuration (XEP-0060 §16.4.3 `pubsub#node_config`, the subset a
 * PEP service needs) as a plain value, with the codecs between it and data
 * forms: the owner's configure form, a submitted configure form, and
 * publish-options (XEP-0060 §7.1.5), which are preconditions on the same fields.
 * Pure: no I/O.
 */
export const NS_NODE_CONFIG = 'http://jabber.org/protocol/pubsub#node_config';
export const NS_PUBLISH_OPTIONS = 'http://jabber.org/protocol/pubsub#publish-options';

export type AccessModel = 'open' | 'presence' | 'roster' | 'whitelist';
export type SendLast = 'never' | 'on_sub' | 'on_sub_and_presence';
/** The affiliations a PEP owner can give others (XEP-0060 §4.1): a member reads whatever the access model, an outcast never does. */
export type Affiliation = 'member' | 'outcast';

export interface NodeConfig {
  accessModel: AccessModel;
  /** With the 'roster' access model: the owner's roster groups whose contacts may read (absent in nodes stored before it existed). */
  rosterGroupsAllowed?: readonly string[];
  /** Most items kept; 'max' is the service's limit (XEP-0060 §16.4.3, OMEMO bundles and bookmarks use it), where a full node refuses new items. */
  maxItems: number | 'max';
  persistItems: boolean;
  deliverPayloads: boolean;
  notifyRetract: boolean;
  notifyDelete: boolean;
  sendLastPublishedItem: SendLast;
  title: string;
  /** Others' affiliations by bare JID (XEP-0060 §8.9); absent: none. Not part of the configuration form. */
  affiliations?: Readonly<Record<string, Affiliation>>;
}

/** XEP-0163 §5 recommended defaults (max_items 1: a PEP node carries the latest state). */
export function defaultConfig(): NodeConfig {
  return {
    accessModel: 'presence',
    maxItems: 1,
    persistItems: true,
    deliverPayloads: true,
    notifyRetract: true,
    notifyDelete: true,
    sendLastPublishedItem: 'on_sub_and_presence',
    title: '',
  };
}

/**
 * XEP-0223's configuration for a user's private data kept in PEP: the owner alone reads it, every item is
 * kept, nothing is pushed at login. What XEP-0402 bookmarks and XEP-0490's displayed state ask for.
 */
export const PRIVATE_STORAGE_CONFIG: Readonly<NodeConfig> = {
  accessModel: 'whitelist',
  maxItems: 'max',
  persistItems: true,
  deliverPayloads: true,
  notifyRetract: true,
  notifyDelete: true,
  sendLastPublishedItem: 'never',
  title: '',
};

export class ConfigValueError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = 'ConfigValueError';
  }
}

const ACCESS_MODELS: ReadonlySet<string> = new Set<AccessModel>(['open', 'presence', 'roster', 'whitelist']);
const SEND_LAST: ReadonlySet<string> = new Set<SendLast>(['never', 'on_sub', 'on_sub_and_presence']);

function bool(field: string, v: string): boolean {
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  throw new ConfigValueError(field, `${field} is not a boolean`);
}

/**
 * Applies the known fields of a submitted form (configure or publish-options)
 * to `base`; returns the result and the names of the fields it understood.
 * Unknown fields are ignored: clients send options other services know
 * (pubsub#notify_sub…), which do not change what a PEP node does here.
 */
export function applyForm(base: NodeConfig, form: DataForm, limit: number): { config: NodeConfig; fields: string[] } {
  const config = { ...base };
  const fields: string[] = [];
  for (const f of form.fields) {
    const name = f.var;
    if (name === undefined || name === 'FORM_TYPE') continue;
    const v = f.values[0] ?? '';
    switch (name) {
      case 'pubsub#access_model':
        if (!ACCESS_MODELS.has(v)) throw new ConfigValueError(name, `access model '${v}' is not supported`);
        config.accessModel = v as AccessModel;
        break;
      case 'pubsub#roster_groups_allowed':
        config.rosterGroupsAllowed = f.values.filter((g) => g !== '');
        break;
      case 'pubsub#max_items':
        config.maxItems = parseMaxItems(v, limit);
        break;
      case 'pubsub#persist_items':
        config.persistItems = bool(name, v);
        break;
      case 'pubsub#deliver_payloads':
        config.deliverPayloads = bool(name, v);
        break;
      case 'pubsub#notify_retract':
        config.notifyRetract = bool(name, v);
        break;
      case 'pubsub#notify_delete':
        config.notifyDelete = bool(name, v);
        break;
      case 'pubsub#send_last_published_item':
        if (!SEND_LAST.has(v)) throw new ConfigValueError(name, `send_last_published_item '${v}' is not supported`);
        config.sendLastPublishedItem = v as SendLast;
        break;
      case 'pubsub#title':
        config.title = v;
        break;
      default:
        continue;
    }
    fields.push(name);
  }
  return { config, fields };
}

function parseMaxItems(v: string, limit: number): number | 'max' {
  if (v === 'max') return 'max';
  if (!/^[0-9]{1,9}$/.test(v)) throw new ConfigValueError('pubsub#max_items', `max_items '${v}' is not a number or 'max'`);
  const n = Number(v);
  if (n < 1) throw new ConfigValueError('pubsub#max_items', 'max_items must be at least 1');
  // A number above the service's limit is the limit: clients ask for "many" with large numbers (Conversations asks for 'max').
  return n >= limit ? 'max' : n;
}

/** The number of items a node keeps. */
export function itemLimit(config: NodeConfig, limit: number): number {
  return config.maxItems === 'max' ? limit : Math.min(config.maxItems, limit);
}

/** Whether every option named in `fields` has the same value in both configurations (publish-options preconditions). */
export function satisfies(node: NodeConfig, wanted: NodeConfig, fields: readonly string[]): boolean {
  for (const f of fields) {
    switch (f) {
      case 'pubsub#access_model':
        if (node.accessModel !== wanted.accessModel) return false;
        break;
      case 'pubsub#roster_groups_allowed':
        if (!sameGroups(node.rosterGroupsAllowed, wanted.rosterGroupsAllowed)) return false;
        break;
      case 'pubsub#max_items':
        if (node.maxItems !== wanted.maxItems) return false;
        break;
      case 'pubsub#persist_items':
        if (node.persistItems !== wanted.persistItems) return false;
        break;
      case 'pubsub#deliver_payloads':
        if (node.deliverPayloads !== wanted.deliverPayloads) return false;
        break;
      case 'pubsub#notify_retract':
        if (node.notifyRetract !== wanted.notifyRetract) return false;
        break;
      case 'pubsub#notify_delete':
        if (node.notifyDelete !== wanted.notifyDelete) return false;
        break;
      case 'pubsub#send_last_published_item':
        if (node.sendLastPublishedItem !== wanted.sendLastPublishedItem) return false;
        break;
      case 'pubsub#title':
        if (node.title !== wanted.title) return false;
        break;
    }
  }
  return true;
}

function sameGroups(a: readonly string[] = [], b: readonly string[] = []): boolean {
  const set = new Set(a);
  return set.size === new Set(b).size && b.every((g) => set.has(g));
}

/**
 * The owner's configure form (XEP-0060 §8.2.1). `rosterGroups` are the
 * owner's roster groups: the choices of `pubsub#roster_groups_allowed`, a
 * list-multi in the §16.4.4 registry (clients that load the form by that
 * registry, as aioxmpp does, refuse any other type). A service whose nodes
 * have no owner's roster (XEP-0060's generic service) passes null, which
 * leaves the field out, and offers only the `accessModels` it supports.
 */
export function configForm(config: NodeConfig, rosterGroups: readonly string[] | null = [], accessModels: readonly AccessModel[] = ['open', 'presence', 'roster', 'whitelist']): ReturnType<typeof buildForm> {
  const b = (v: boolean) => (v ? '1' : '0');
  const allowed = config.rosterGroupsAllowed ?? [];
  // A group still allowed after its last contact left the roster stays a choice, so the form's values are among its options.
  const groups = [...new Set([...(rosterGroups ?? []), ...allowed])].sort();
  const fields: FormField[] = [
    formTypeField(NS_NODE_CONFIG),
    { var: 'pubsub#title', type: 'text-single', label: 'A friendly name for the node', values: [config.title] },
    {
      var: 'pubsub#access_model',
      type: 'list-single',
      label: 'Who may subscribe and retrieve items',
      values: [config.accessModel],
      options: accessModels.map((value) => ({ value })),
    },
  ];
  if (rosterGroups !== null) {
    fields.push({
      var: 'pubsub#roster_groups_allowed',
      type: 'list-multi',
      label: "Roster groups allowed to subscribe ('roster' access)",
      values: [...allowed],
      options: groups.map((value) => ({ value })),
    });
  }
  fields.push(
    { var: 'pubsub#max_items', type: 'text-single', label: 'Max # of items to persist', values: [String(config.maxItems)] },
    { var: 'pubsub#persist_items', type: 'boolean', label: 'Persist items to storage', values: [b(config.persistItems)] },
    { var: 'pubsub#deliver_payloads', type: 'boolean', label: 'Deliver payloads with event notifications', values: [b(config.deliverPayloads)] },
    { var: 'pubsub#notify_retract', type: 'boolean', label: 'Notify subscribers when items are removed from the node', values: [b(config.notifyRetract)] },
    { var: 'pubsub#notify_delete', type: 'boolean', label: 'Notify subscribers when the node is deleted', values: [b(config.notifyDelete)] },
    {
      var: 'pubsub#send_last_published_item',
      type: 'list-single',
      label: 'When to send the last published item',
      values: [config.sendLastPublishedItem],
      options: [{ value: 'never' }, { value: 'on_sub' }, { value: 'on_sub_and_presence' }],
    },
  );
  return buildForm({ type: 'form', fields });
}
