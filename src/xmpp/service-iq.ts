import { x, type XmlElement } from '../util/xml.js';
import { errorReply, StanzaError } from './errors.js';
import type { RouteEvent } from './events.js';
import type { ModuleContext } from './module.js';

/** What a service answers an iq with: the result's payload (null for an empty result), or a StanzaError thrown. */
export type ServiceIqAnswer = (ev: RouteEvent, host: string) => XmlElement | null | Promise<XmlElement | null>;

/**
 * Answers the iq get/set addressed to a module's own service JID
 * (`upload.<host>`, `proxy.<host>`), which hosts no accounts and so reaches
 * the router as a remote domain. `services` maps each service domain to the
 * served domain it belongs to. Other stanzas to the service are dropped, as
 * there is nothing there to receive them.
 */
export function answerServiceIqs(ctx: Pick<ModuleContext, 'hook' | 'log' | 'server'>, services: ReadonlyMap<string, string>, answer: ServiceIqAnswer): void {
  ctx.hook(
    'route/remote',
    (ev) => {
      const host = services.get(ev.to.domain);
      if (host === undefined) return;
      const iq = ev.stanza;
      if (iq.name !== 'iq' || (iq.attrs.type !== 'get' && iq.attrs.type !== 'set')) return true;
      return (async () => {
        let out: XmlElement;
        try {
          out = x('iq', { type: 'result', id: iq.attrs.id, from: ev.to.full, to: ev.from.full }, (await answer(ev, host)) ?? undefined);
        } catch (e) {
          if (!(e instanceof StanzaError)) ctx.log.error(`request to ${ev.to.full} failed`, e);
          out = errorReply(iq, e instanceof StanzaError ? e : new StanzaError('internal-server-error'));
          out.attrs.from = ev.to.full;
          out.attrs.to = ev.from.full;
        }
        if (ev.origin !== null && ev.origin.open && ev.origin.jid.full === ev.from.full) ev.origin.send(out);
        else await ctx.server.route(out);
        return true;
      })();
    },
    500,
  );
}
