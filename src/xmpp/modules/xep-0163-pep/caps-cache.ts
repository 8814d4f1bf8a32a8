import type { XmlElement } from '../../../util/xml.js';
import { capsVer, unambiguous } from '../xep-0115-caps/ver.js';

export const NS_CAPS = 'http://jabber.org/protocol/caps';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const NOTIFY = '+notify';

/** The `<c/>` of a presence (XEP-0115 §4). */
export interface CapsRef {
  node: string;
  ver: string;
  /** Absent for legacy (pre-1.5) caps, whose ver is not a hash. */
  hash: string | undefined;
  /** `node#ver`: the disco#info node to ask, and the cache key. */
  key: string;
}

export function capsOf(presence: XmlElement | null): CapsRef | null {
  if (presence === null) return null;
  const c = presence.getChild('c', NS_CAPS);
  const node = c?.attrs.node;
  const ver = c?.attrs.ver;
  if (node === undefined || ver === undefined) return null;
  return { node, ver, hash: c!.attrs.hash, key: `${node}#${ver}` };
}

/** Shared by every session that wants no notifications (no caps, or none with +notify): a Set costs ~240 bytes. */
export const NO_NODES: ReadonlySet<string> = new Set<string>();
const nodesOf = new WeakMap<ReadonlySet<string>, ReadonlySet<string>>();

/** `+notify` features of a disco#info feature set, as node names (XEP-0163 §4.2). */
export function notifyNodes(features: ReadonlySet<string> | null): ReadonlySet<string> {
  if (features === null) return NO_NODES;
  // Every session of one client version has the same features (the caps cache shares the set): one answer for them all.
  let out = nodesOf.get(features);
  if (out === undefined) {
    const nodes = new Set<string>();
    for (const f of features) if (f.endsWith(NOTIFY)) nodes.add(f.slice(0, -NOTIFY.length));
    out = nodes.size === 0 ? NO_NODES : nodes;
    nodesOf.set(features, out);
  }
  return out;
}

/** Asks `full` for disco#info of `node`; resolves with the reply iq (result or error). */
export type DiscoQuery = (full: string, node: string) => Promise<XmlElement | null>;

/**
 * Entity capabilities of the entities PEP notifies: disco#info features by
 * `node#ver`, asked once per ver (the same ver means the same features,
 * XEP-0115 §1). A SHA-1 ver is checked against the answer before it is
 * shared between entities; an answer that does not hash to its ver (or a
 * legacy ver) is kept for the one full JID that gave it, so one client cannot
 * poison what others are believed to want.
 */
export class CapsCache {
  private readonly shared = new Map<string, ReadonlySet<string>>();
  private readonly perJid = new Map<string, ReadonlySet<string>>();
  private readonly pending = new Map<string, Promise<ReadonlySet<string> | null>>();

  constructor(
    private readonly query: DiscoQuery,
    private readonly maxEntries: number,
  ) {}

  /** Known features, without asking; undefined when they have to be asked for. */
  peek(full: string, ref: CapsRef): ReadonlySet<string> | undefined {
    return this.shared.get(ref.key) ?? this.perJid.get(`${full} ${ref.key}`);
  }

  /** The features, asking `full` once when they are not known; null when it could not say. */
  resolve(full: string, ref: CapsRef): Promise<ReadonlySet<string> | null> {
    const known = this.peek(full, ref);
    if (known !== undefined) return Promise.resolve(known);
    if (ref.hash !== 'sha-1') return this.askOnce(`${full} ${ref.key}`, full, ref);
    // Another entity being asked for this ver speaks for this one only if its
    // answer hashes to ver; one that lies (or never answers) must not decide
    // what this one is believed to want, so it is then asked itself.
    const other = this.pending.get(ref.key);
    if (other === undefined) return this.askOnce(ref.key, full, ref);
    return other.then(() => this.peek(full, ref) ?? this.askOnce(`${full} ${ref.key}`, full, ref));
  }

  /** Forgets what one full JID told about itself (it went offline). */
  forget(full: string): void {
    const prefix = full + ' ';
    for (const k of this.perJid.keys()) if (k.startsWith(prefix)) this.perJid.delete(k);
  }

  private askOnce(pendingKey: string, full: string, ref: CapsRef): Promise<ReadonlySet<string> | null> {
    let p = this.pending.get(pendingKey);
    if (p === undefined) {
      p = this.ask(full, ref).finally(() => this.pending.delete(pendingKey));
      this.pending.set(pendingKey, p);
    }
    return p;
  }

  private async ask(full: string, ref: CapsRef): Promise<ReadonlySet<string> | null> {
    const reply = await this.query(full, ref.key);
    if (reply === null || reply.attrs.type !== 'result') return null;
    const q = reply.getChild('query', NS_DISCO_INFO);
    if (q === undefined) return null;
    const features = q.getChildren('feature').map((f) => f.attrs.var ?? '');
    const set: ReadonlySet<string> = new Set(features);
    const identities = q.getChildren('identity').map((i) => ({ category: i.attrs.category ?? '', type: i.attrs.type ?? '', lang: i.attrs['xml:lang'], name: i.attrs.name }));
    const forms = q.getChildren('x');
    const verified = ref.hash === 'sha-1' && unambiguous(identities, features, forms) && capsVer(identities, features, forms) === ref.ver;
    const map = verified ? this.shared : this.perJid;
    if (map.size >= this.maxEntries) map.clear();
    map.set(verified ? ref.key : `${full} ${ref.key}`, set);
    return set;
  }
}
