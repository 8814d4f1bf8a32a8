import { x, type XmlElement } from '../../util/xml.js';
import { StanzaError } from '../errors.js';
import type { IqHandler, IqRequest, IqScope } from '../module.js';
import type { Logger } from '../../util/log.js';

interface Registration {
  handler: IqHandler;
  scope: IqScope;
}

/**
 * IQ requests addressed to the server or to an account, dispatched by a map
 * keyed on (type, namespace, element). One wrapper owns the error mapping:
 * no handler is service-unavailable, a StanzaError is itself, anything else
 * thrown is internal-server-error (and logged).
 */
export class IqDispatcher {
  private readonly handlers = new Map<string, Registration>();

  constructor(private readonly log: Logger) {}

  register(type: 'get' | 'set', ns: string, element: string, handler: IqHandler, scope: IqScope): () => void {
    const key = `${type} ${ns} ${element}`;
    if (this.handlers.has(key)) throw new Error(`two modules answer iq ${key}`);
    this.handlers.set(key, { handler, scope });
    return () => this.handlers.delete(key);
  }

  /** Finds the handler for an iq get/set; null when none answers at this address. */
  private find(type: string, payload: XmlElement, atHost: boolean): IqHandler | null {
    const ns = payload.attrs.xmlns ?? '';
    const reg = this.handlers.get(`${type} ${ns} ${payload.name}`) ?? this.handlers.get(`${type} ${ns} *`);
    if (reg === undefined) return null;
    if (reg.scope === 'both') return reg.handler;
    return (reg.scope === 'host') === atHost ? reg.handler : null;
  }

  /** Answers the request; returns the reply stanza (result or error). */
  async dispatch(req: Omit<IqRequest, 'payload'>, atHost: boolean): Promise<XmlElement> {
    const stanza = req.stanza;
    const type = stanza.attrs.type!;
    const children = stanza.elements();
    try {
      if (children.length !== 1) throw new StanzaError('bad-request', 'an iq get/set carries exactly one child element');
      const payload = children[0]!;
      const handler = this.find(type, payload, atHost);
      if (handler === null) throw new StanzaError('service-unavailable');
      const result = await handler({ ...req, payload });
      return x('iq', { xmlns: 'jabber:client', type: 'result', id: stanza.attrs.id, from: req.to.full, to: req.from.full }, result ?? undefined);
    } catch (e) {
      const err = e instanceof StanzaError ? e : new StanzaError('internal-server-error');
      if (!(e instanceof StanzaError)) this.log.error(`iq handler failed for ${stanza.toString().slice(0, 300)}`, e);
      return x('iq', { xmlns: 'jabber:client', type: 'error', id: stanza.attrs.id, from: req.to.full, to: req.from.full }, err.toElement());
    }
  }
}
