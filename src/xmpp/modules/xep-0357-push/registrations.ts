import type { Table } from '../../../storage/wide-column.js';

/** One XEP-0357 registration: an app server + node a client enabled. */
export interface Registration {
  /** App server JID (XEP-0357 'jid'). */
  jid: string;
  /** Node on the app server (XEP-0357 'node'); for the built-in app server, the device id. */
  node: string;
  /** The publish-options form of the enable request, serialised, or null. */
  publishOptions: string | null;
  /** Full JID of the session that enabled it: pushes for that session while it is hibernated. */
  resource: string;
  createdMs: number;
  /** Built-in app server only: the device's push service registration. */
  device?: { app: string; token: string };
}

export const REGISTRATIONS_TABLE = 'push_registrations';

export const registrationKey = (jid: string, node: string): string => `${jid}|${node}`;

/** Registrations of accounts: pk = account bare JID, sk = `<jid>|<node>`. Only the owner's own requests reach them. */
export class RegistrationStore {
  constructor(private readonly table: Table) {}

  async list(owner: string): Promise<Registration[]> {
    const rows = await this.table.store.range(this.table.name, owner);
    return rows.map((r) => JSON.parse(r.value) as Registration);
  }

  async put(owner: string, reg: Registration): Promise<void> {
    await this.table.putJson(owner, registrationKey(reg.jid, reg.node), reg);
  }

  async remove(owner: string, jid: string, node: string): Promise<void> {
    await this.table.store.delete(this.table.name, owner, registrationKey(jid, node));
  }

  /** Removes the registration unless it was enabled again since `seen` was read (a newer one must not go for the old one's failure). */
  async removeIfUnchanged(owner: string, seen: Registration): Promise<boolean> {
    const current = await this.table.get(owner, registrationKey(seen.jid, seen.node));
    if (current === undefined || current !== JSON.stringify(seen)) return false;
    await this.remove(owner, seen.jid, seen.node);
    return true;
  }

  async removeAll(owner: string): Promise<void> {
    await this.table.store.deletePartition(this.table.name, owner);
  }
}
