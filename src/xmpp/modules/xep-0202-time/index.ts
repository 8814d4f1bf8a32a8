import { x } from '../../../util/xml.js';
import { defineModule } from '../../module.js';

const NS_TIME = 'urn:xmpp:time';

/** "+hh:mm" / "-hh:mm" for an offset in minutes east of UTC (XEP-0082 TZD). */
export function formatTzo(minutesEast: number): string {
  const sign = minutesEast < 0 ? '-' : '+';
  const abs = Math.abs(minutesEast);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** XEP-0202 Entity Time: the server's UTC time (XEP-0082 profile, milliseconds allowed) and its zone offset. */
export default defineModule({
  name: 'time',
  implements: 'XEP-0202',
  start(ctx) {
    ctx.feature(NS_TIME);
    ctx.iq('get', NS_TIME, 'time', () => {
      const now = new Date();
      // getTimezoneOffset is minutes *west* of UTC; XEP-0202 wants the offset east.
      return x('time', { xmlns: NS_TIME }, x('tzo', null, formatTzo(-now.getTimezoneOffset())), x('utc', null, now.toISOString()));
    });
  },
});
