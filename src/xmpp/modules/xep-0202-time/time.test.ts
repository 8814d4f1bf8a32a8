import { expect } from 'chai';
import { TestServer } from '../../../testing/harness.js';
import time, { formatTzo } from './index.js';

describe('XEP-0202 time', () => {
  it('formats zone offsets as XEP-0082 TZD', () => {
    expect(formatTzo(0)).to.equal('+00:00');
    expect(formatTzo(330)).to.equal('+05:30');
    expect(formatTzo(-360)).to.equal('-06:00');
  });

  it('answers the current UTC time and offset', async () => {
    const ts = await TestServer.start([time]);
    try {
      const alice = await ts.login('alice@localhost/phone');
      const before = Date.now();
      const r = await alice.iq(`<iq type='get' to='localhost'><time xmlns='urn:xmpp:time'/></iq>`);
      const t = r.getChild('time', 'urn:xmpp:time')!;
      const utc = t.getChildText('utc')!;
      expect(utc).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      expect(Date.parse(utc)).to.be.within(before - 1000, Date.now() + 1000);
      expect(t.getChildText('tzo')).to.match(/^[+-]\d\d:\d\d$/);
    } finally {
      await ts.stop();
    }
  });
});
