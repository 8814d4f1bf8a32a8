/**
 * The contract every SessionTable backend keeps, run by each backend's test
 * file (STYLE rule 8). Tables of one backend created by `create` share their
 * data, each standing for one node. Reads from a node other than the writer
 * use `eventually`: a backend may cache remotely and invalidate asynchronously.
 */
import { expect } from 'chai';
import { eventually } from '../testing/eventually.js';
import type { SessionEntry, SessionTable } from './session-table.js';

export interface SessionTableBackend {
  /** A started table for node `nodeId`, sharing data with the other tables of this backend. */
  create(nodeId: string): Promise<SessionTable>;
  /** Called before each test, e.g. to empty the server. */
  reset?(): Promise<void>;
}

let counter = 0;
/** A fresh account per test, so tests cannot see each other's entries. */
function account(): string {
  counter++;
  return `user${counter}-${process.pid}@example.com`;
}

function entry(jid: string, node: string, extra: Partial<SessionEntry> = {}): SessionEntry {
  return { jid, node, priority: null, presence: null, ...extra };
}

export function sessionTableContract(name: string, backend: () => SessionTableBackend): void {
  describe(`SessionTable contract: ${name}`, function () {
    const open: SessionTable[] = [];
    async function node(id: string): Promise<SessionTable> {
      const table = await backend().create(id);
      open.push(table);
      return table;
    }

    beforeEach(async function () {
      await backend().reset?.();
    });

    afterEach(async function () {
      await Promise.all(open.splice(0).map((t) => t.stop()));
    });

    it('bind returns the entry it replaced, so that of two nodes binding one JID the later learns of the earlier', async function () {
      const a = await node('node-a');
      const b = await node('node-b');
      const full = `${account()}/phone`;
      expect(await a.bind(entry(full, 'node-a'))).to.equal(undefined);
      expect(await b.bind(entry(full, 'node-b', { priority: 1 }))).to.deep.equal(entry(full, 'node-a'));
      await eventually(async () => expect((await a.get(full))?.node).to.equal('node-b'));
    });

    it('lists every started node, to each of them', async function () {
      const a = await node('node-a');
      const b = await node('node-b');
      for (const t of [a, b]) await eventually(async () => expect(await t.nodes()).to.include.members(['node-a', 'node-b']));
    });

    it('update rewrites an entry only while the node still holds it', async function () {
      const a = await node('node-a');
      const b = await node('node-b');
      const full = `${account()}/phone`;
      expect(await a.update(entry(full, 'node-a'))).to.equal(false);
      expect(await a.get(full)).to.equal(undefined);
      await a.bind(entry(full, 'node-a'));
      expect(await a.update(entry(full, 'node-a', { priority: 3 }))).to.equal(true);
      await b.bind(entry(full, 'node-b'));
      // A late presence update from the node that lost the JID leaves the new holder's entry alone.
      expect(await a.update(entry(full, 'node-a', { priority: 7 }))).to.equal(false);
      await eventually(async () => expect(await b.get(full)).to.deep.equal(entry(full, 'node-b')));
    });

    it('returns a put entry by full JID, with every field', async function () {
      const a = await node('node-a');
      const bare = account();
      const full: SessionEntry = entry(`${bare}/phone`, 'node-a', {
        priority: 5,
        presence: '<presence from="x"><show>away</show><status>a &amp; "b"</status></presence>',
        smId: 'sm-1',
        hibernated: true,
        interested: true,
        carbons: true,
      });
      await a.put(full);
      expect(await a.get(`${bare}/phone`)).to.deep.equal(full);
      expect(await a.get(`${bare}/other`)).to.equal(undefined);
      expect(await a.get(`${account()}/phone`)).to.equal(undefined);
    });

    it('keeps resources containing slashes and non-ASCII characters apart', async function () {
      const a = await node('node-a');
      const bare = account();
      await a.put(entry(`${bare}/a/b`, 'node-a', { priority: 1 }));
      await a.put(entry(`${bare}/a`, 'node-a', { priority: 2 }));
      await a.put(entry(`${bare}/télé 📱`, 'node-a', { priority: 3 }));
      expect((await a.get(`${bare}/a/b`))?.priority).to.equal(1);
      expect((await a.get(`${bare}/a`))?.priority).to.equal(2);
      expect((await a.get(`${bare}/télé 📱`))?.priority).to.equal(3);
    });

    it('lists every resource of an account and none of another', async function () {
      const a = await node('node-a');
      const b = await node('node-b');
      const bare = account();
      const other = account();
      await a.put(entry(`${bare}/one`, 'node-a'));
      await b.put(entry(`${bare}/two`, 'node-b'));
      await a.put(entry(`${other}/one`, 'node-a'));
      for (const table of [a, b]) {
        await eventually(async () => {
          const jids = (await table.byBare(bare)).map((e) => e.jid).sort();
          expect(jids).to.deep.equal([`${bare}/one`, `${bare}/two`]);
        });
      }
      expect(await a.byBare(account())).to.deep.equal([]);
    });

    it('replaces the entry of a JID on put', async function () {
      const a = await node('node-a');
      const bare = account();
      await a.put(entry(`${bare}/r`, 'node-a', { priority: 1 }));
      await a.byBare(bare);
      await a.put(entry(`${bare}/r`, 'node-a', { priority: 7, presence: '<presence/>' }));
      expect(await a.get(`${bare}/r`)).to.deep.equal(entry(`${bare}/r`, 'node-a', { priority: 7, presence: '<presence/>' }));
      expect(await a.byBare(bare)).to.have.length(1);
    });

    it('removes an entry for its owner only', async function () {
      const a = await node('node-a');
      const bare = account();
      await a.put(entry(`${bare}/r`, 'node-a'));
      await a.remove(`${bare}/r`, 'node-b');
      expect(await a.get(`${bare}/r`)).to.deep.include({ node: 'node-a' });
      await a.remove(`${bare}/r`, 'node-a');
      expect(await a.get(`${bare}/r`)).to.equal(undefined);
      expect(await a.byBare(bare)).to.deep.equal([]);
      await a.remove(`${bare}/r`, 'node-a');
    });

    it('lets a newer login on another node win over the old node\'s remove', async function () {
      const a = await node('node-a');
      const b = await node('node-b');
      const bare = account();
      await a.put(entry(`${bare}/r`, 'node-a'));
      await eventually(async () => expect(await b.get(`${bare}/r`)).to.deep.include({ node: 'node-a' }));
      await b.put(entry(`${bare}/r`, 'node-b', { priority: 3 }));
      await a.remove(`${bare}/r`, 'node-a');
      for (const table of [a, b]) {
        await eventually(async () => expect(await table.get(`${bare}/r`)).to.deep.equal(entry(`${bare}/r`, 'node-b', { priority: 3 })));
      }
      await b.remove(`${bare}/r`, 'node-b');
      for (const table of [a, b]) {
        await eventually(async () => expect(await table.byBare(bare)).to.deep.equal([]));
      }
    });

    it('hands out copies: changing a returned entry does not change the table', async function () {
      const a = await node('node-a');
      const bare = account();
      await a.put(entry(`${bare}/r`, 'node-a', { priority: 1 }));
      const listed = await a.byBare(bare);
      listed[0]!.priority = 99;
      listed.pop();
      const fetched = await a.get(`${bare}/r`);
      fetched!.node = 'elsewhere';
      expect(await a.get(`${bare}/r`)).to.deep.equal(entry(`${bare}/r`, 'node-a', { priority: 1 }));
      expect(await a.byBare(bare)).to.deep.equal([entry(`${bare}/r`, 'node-a', { priority: 1 })]);
    });

    it('places a key on the first node to claim it until that node releases it', async function () {
      const a = await node('node-a');
      const b = await node('node-b');
      const key = `room-${account()}`;
      expect(await a.holder(key)).to.equal(undefined);
      expect(await a.claim(key, 'node-a')).to.equal('node-a');
      expect(await b.claim(key, 'node-b')).to.equal('node-a');
      expect(await b.holder(key)).to.equal('node-a');
      await b.release(key, 'node-b');
      expect(await b.holder(key)).to.equal('node-a');
      await a.release(key, 'node-a');
      expect(await b.holder(key)).to.equal(undefined);
      expect(await b.claim(key, 'node-b')).to.equal('node-b');
      expect(await a.claim(key, 'node-a')).to.equal('node-b');
      expect(await a.holder(`other-${key}`)).to.equal(undefined);
    });
  });
}
