import { hkdfSync, randomBytes } from 'node:crypto';
import { Table, type TableSpec, type WideColumnStore } from '../../storage/wide-column.js';

export const SERVER_SECRETS_TABLE: TableSpec = { name: 'server_secrets', readMostly: true, description: 'The secret every node of the server derives its own keys from (pk "server", sk "root", value base64url), made by the first node that starts.' };
const PK = 'server';
const SK = 'root';

/**
 * One random secret per server, not per process: made by the first node
 * that starts and kept in the store, so every node of a cluster, and a node
 * after a restart, derives the same keys from it. Each use gets its own key
 * (HKDF, the purpose as info), so no two uses ever share a key.
 */
export class ServerSecret {
  /** Derived keys by purpose: few (one per use and host), asked for on every login. */
  private readonly keys = new Map<string, Buffer>();

  private constructor(private readonly root: Buffer) {}

  static async load(store: WideColumnStore): Promise<ServerSecret> {
    const table = new Table(store, SERVER_SECRETS_TABLE.name);
    let stored = await table.get(PK, SK);
    if (stored === undefined) {
      // ifNotExists: nodes starting together all end with whichever secret was written first.
      await table.put(PK, SK, randomBytes(32).toString('base64url'), { ifNotExists: true });
      stored = await table.get(PK, SK);
      if (stored === undefined) throw new Error('the server secret could not be read back from the store');
    }
    return new ServerSecret(Buffer.from(stored, 'base64url'));
  }

  /** The key for `purpose` (a fixed name, with whatever scopes it, e.g. the host). */
  key(purpose: string): Buffer {
    let k = this.keys.get(purpose);
    if (k === undefined) {
      k = Buffer.from(hkdfSync('sha256', this.root, Buffer.alloc(0), purpose, 32));
      this.keys.set(purpose, k);
    }
    return k;
  }
}
