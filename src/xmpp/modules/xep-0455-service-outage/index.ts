import { addressListForm } from '../../../util/data-form.js';
import { ConfigError } from '../../../util/options.js';
import { defineModule } from '../../module.js';

export const SOS_FORM_TYPE = 'urn:xmpp:sos:0';
const OPTION = 'modules.options.service-outage.addresses';

/**
 * XEP-0455 Service Outage Status: where clients read whether this service is
 * down, as the `urn:xmpp:sos:0` XEP-0128 form of the server's disco#info.
 * Clients fetch and keep the address while they can connect, so that when they
 * cannot they still have somewhere to read about the outage; the document
 * there is the operator's to publish (and to empty with `{}` once resolved).
 *
 * The server's whole part since XEP-0455 0.3.0, which removed the in-band
 * event signalling (the pubsub node of outage notices): the XEP defines
 * nothing for a server to send over XMPP. Nothing is advertised until an
 * address is set.
 */
export default defineModule({
  name: 'service-outage',
  implements: 'XEP-0455',
  options: {
    addresses: {
      type: 'string[]',
      default: [],
      doc: 'URLs of the XEP-0455 status document (JSON, readable without authentication, e.g. ["https://status.example.org/xmpp.json"]) that clients fetch when they cannot reach the server, so keep it on other hosting. https only (http for localhost).',
    },
  },
  start(ctx) {
    const form = addressListForm(SOS_FORM_TYPE, [['external-status-addresses', ctx.options.addresses.map(statusUrl)]]);
    if (form !== undefined) ctx.infoExtension(form);
  },
});

/** The URL as clients get it (serialised by WHATWG rules, so always an absolute xs:anyURI), or a ConfigError saying what is wrong. */
function statusUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${OPTION}: '${value}' is not a URL (write https://host/path)`);
  }
  // Clients read it when the server is down and show what it says: over plain http anyone on the path could write that message.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    throw new ConfigError(`${OPTION}: '${value}' must be an https:// URL (http:// only for localhost)`);
  }
  // Every user's disco#info shows it, and XEP-0455 §2.1 wants the document readable without authentication.
  if (url.username !== '' || url.password !== '') throw new ConfigError(`${OPTION}: '${value}' carries a user or password; the status document must be readable without authentication`);
  return url.href;
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
