import type { XmlElement } from '../util/xml.js';
import type { Resource } from '../xmpp/router/router.js';
import { parseXml } from '../xmpp/stream/parse-xml.js';
import type { SessionEntry } from './session-table.js';

/** A resource held by another node, built from its session-table entry. Its presence is parsed only when someone reads it. */
class RemoteResource implements Resource {
  readonly session: null = null;
  private parsed: XmlElement | null | undefined = undefined;

  constructor(
    readonly full: string,
    readonly priority: number | null,
    readonly interested: boolean,
    readonly node: string,
    private readonly presenceXml: string | null,
    readonly carbons: boolean,
    readonly hibernated: boolean,
  ) {}

  get presence(): XmlElement | null {
    if (this.parsed === undefined) this.parsed = this.presenceXml === null ? null : parseXml(this.presenceXml);
    return this.parsed;
  }
}

export function remoteResource(e: SessionEntry): Resource {
  return new RemoteResource(e.jid, e.priority, e.interested === true, e.node, e.presence, e.carbons === true, e.hibernated === true);
}
