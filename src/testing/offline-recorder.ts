import type { XmlElement } from '../util/xml.js';
import { defineModule, type ModuleDefinition } from '../xmpp/module.js';

/** Test double: records the messages that reached the offline path on a node (message/offline), as offline storage would see them, and claims them. */
export function offlineRecorder(into: XmlElement[]): ModuleDefinition {
  return defineModule({
    name: 'offline-recorder',
    implements: 'test double for message/offline',
    start(ctx) {
      ctx.hook('message/offline', ({ stanza }) => {
        into.push(stanza);
        return true;
      });
    },
  });
}
