import { expect } from 'chai';
import { parseJid } from '../../../util/jid.js';
import type { ServerApi } from '../../module.js';
import type { ClientSession } from '../../session.js';
import { eachLocalSession } from './broadcast.js';

describe('XEP-0133 announcements: walking the sessions of a node', function () {
  const sessions = (n: number, domain: string): ClientSession[] => Array.from({ length: n }, (_, i) => ({ jid: parseJid(`u${i}@${domain}/r`), open: true }) as unknown as ClientSession);
  const serverWith = (all: ClientSession[]): ServerApi => ({ allSessions: () => all }) as unknown as ServerApi;

  it('lets other work run between chunks of a long pass, and sees only the domain asked for', async function () {
    const server = serverWith([...sessions(2000, 'a.example'), ...sessions(3, 'b.example')]);
    let otherWorkRan = false;
    setImmediate(() => (otherWorkRan = true));
    const ranBefore: boolean[] = [];
    const seen = await eachLocalSession(server, 'a.example', () => void ranBefore.push(otherWorkRan));
    expect(seen).to.equal(2000);
    // What was queued when the pass began ran before its end: the pass did not hold the event loop throughout.
    expect(ranBefore[0]).to.equal(false);
    expect(ranBefore[1999]).to.equal(true);
  });
});
