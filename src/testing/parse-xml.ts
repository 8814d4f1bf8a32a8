export { parseXml } from '../xmpp/stream/parse-xml.js';
