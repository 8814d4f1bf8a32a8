import { expect } from 'chai';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sendControl } from './control.js';
import type { Sori } from './sori.js';
import { eventually } from './testing/eventually.js';
import { startTestSori } from './testing/test-sori.js';

const startIn = (dataDir: string): Promise<Sori> => startTestSori({ server: { dataDir } });

describe('control socket (npm run ctl against a running server)', () => {
  it('is opened in a data directory that no store created, and manages accounts', async () => {
    // A non-embedded backend never creates dataDir; the socket must not depend on it.
    const dataDir = join(mkdtempSync(join(tmpdir(), 'sori-control-')), 'not', 'yet');
    const sori = await startIn(dataDir);
    try {
      const path = join(dataDir, 'sori.sock');
      expect(await sendControl(path, { cmd: 'adduser', jid: 'alice@localhost', password: 'secret' })).to.deep.include({ ok: true });
      expect(await sendControl(path, { cmd: 'list', domain: 'localhost' })).to.deep.equal({ ok: true, output: 'alice@localhost' });
    } finally {
      await sori.stop();
    }
  });

  it('refuses a password change or a listing for a domain it does not serve, rather than "no account" or an empty list', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'sori-control-')), 'data');
    const sori = await startIn(dataDir);
    try {
      const path = join(dataDir, 'sori.sock');
      const notServed = { ok: false, error: 'alice@locahost is not an account JID on a served domain (localhost)' };
      expect(await sendControl(path, { cmd: 'passwd', jid: 'alice@locahost', password: 'x' })).to.deep.equal(notServed);
      expect(await sendControl(path, { cmd: 'passwd', jid: 'alice@localhost/phone', password: 'x' })).to.deep.include({ ok: false });
      expect(await sendControl(path, { cmd: 'list', domain: 'locahost' })).to.deep.equal({ ok: false, error: 'locahost is not a domain this server serves (localhost)' });
    } finally {
      await sori.stop();
    }
  });

  it('lets only the server\'s own user connect, whatever the umask', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'sori-control-')), 'data');
    // Debian's default for users with a group of their own: the group may write what they create.
    const umask = process.umask(0o002);
    let sori: Sori;
    try {
      sori = await startIn(dataDir);
    } finally {
      process.umask(umask);
    }
    try {
      const path = join(dataDir, 'sori.sock');
      await eventually(() => expect(existsSync(path)).to.equal(true));
      expect((statSync(path).mode & 0o777).toString(8), 'connecting takes write permission on the socket').to.equal('600');
      expect(process.umask(), 'the process umask is put back').to.equal(umask);
    } finally {
      await sori.stop();
    }
  });

  it('leaves the server running when the socket cannot be opened', async () => {
    // Unix socket paths are limited to 107 bytes.
    const dataDir = join(mkdtempSync(join(tmpdir(), 'sori-control-')), 'x'.repeat(120));
    const sori = await startIn(dataDir);
    try {
      expect(existsSync(join(dataDir, 'sori.sock'))).to.equal(false);
      expect(sori.listening.ports.c2s).to.be.a('number');
    } finally {
      await sori.stop();
    }
  });
});
