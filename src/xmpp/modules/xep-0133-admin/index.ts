import { getValue, getValues } from '../../../util/data-form.js';
import { JidError, parseJid, type Jid } from '../../../util/jid.js';
import { StanzaError } from '../../errors.js';
import { defineModule, type ModuleContext } from '../../module.js';
import type { AdhocApi } from '../xep-0050-adhoc/api.js';
import { adminForm, adminResult, done, formThenProcess, maxItems, maxItemsField, NS_ADMIN, type AddAdminCommand } from './forms.js';
import { MOTD_TABLES, startMotd } from './motd.js';
import { startOnline } from './online.js';

export { NS_ADMIN };
/** A node asking the node that holds a session (its full JID, the body) to end it. */
const END_SESSION_TOPIC = 'admin/end-session';

/**
 * XEP-0133 Service Administration on top of XEP-0050: add, delete and end
 * the sessions of users, change their passwords, count and list them; count
 * and list online users, announce to them, and keep a message of the day
 * (online.ts, motd.ts). Only
 * the JIDs listed in `server.admins` see or run these commands. Smack's
 * integration test framework provisions its accounts with add-user and
 * delete-user, so the field names and types follow the XEP's examples.
 */
export default defineModule({
  name: 'admin',
  implements: 'XEP-0133',
  depends: ['adhoc'],
  tables: MOTD_TABLES,
  async start(ctx) {
    const adhoc = ctx.use<AdhocApi>('adhoc');
    const endSession = (full: string): void => ctx.server.localSession(full)?.close('policy-violation', 'session ended by an administrator');
    ctx.onStop(ctx.server.onNodePost(END_SESSION_TOPIC, (full) => endSession(full)));
    const allowed = (jid: Jid): boolean => ctx.server.accounts.isAdmin(jid);
    const add: AddAdminCommand = (name, title, execute) => {
      ctx.onStop(adhoc.addCommand({ node: `${NS_ADMIN}#${name}`, name: title, allowed, execute }));
    };

    add('add-user', 'Add a User', (req) =>
      formThenProcess(
        req,
        adminForm('Adding a User', 'Fill out this form to add a user.', [
          { var: 'accountjid', type: 'jid-single', label: 'The Jabber ID for the account to be added', required: true, values: [] },
          { var: 'password', type: 'text-private', label: 'The password for this account', values: [] },
          { var: 'password-verify', type: 'text-private', label: 'Retype password', values: [] },
          { var: 'email', type: 'text-single', label: 'Email address', values: [] },
          { var: 'given_name', type: 'text-single', label: 'Given name', values: [] },
          { var: 'surname', type: 'text-single', label: 'Family name', values: [] },
        ]),
        async (form) => {
          const jid = accountJid(ctx, getValue(form, 'accountjid'));
          const password = getValue(form, 'password') ?? '';
          if (password === '') throw new StanzaError('not-acceptable', 'a password is required');
          const verify = getValue(form, 'password-verify');
          if (verify !== undefined && verify !== password) throw new StanzaError('not-acceptable', 'the passwords do not match');
          if (!(await ctx.server.createAccount(jid, password))) throw new StanzaError('conflict', `${jid.bare} exists already`);
          ctx.log.info(`${req.from.bare} added ${jid.bare}`);
          return done(`Added ${jid.bare}`);
        },
      ),
    );

    add('delete-user', 'Delete a User', (req) =>
      formThenProcess(
        req,
        adminForm('Deleting a User', 'Fill out this form to delete a user.', [
          { var: 'accountjids', type: 'jid-multi', label: 'The Jabber ID(s) to delete', required: true, values: [] },
        ]),
        async (form) => {
          const jids = accountJids(ctx, getValues(form, 'accountjids'));
          const missing: string[] = [];
          for (const jid of jids) {
            if (!(await ctx.server.accounts.exists(jid))) {
              missing.push(jid.bare);
              continue;
            }
            await ctx.server.deleteAccount(jid);
            ctx.log.info(`${req.from.bare} deleted ${jid.bare}`);
          }
          if (missing.length === jids.length) throw new StanzaError('item-not-found', `no such account: ${missing.join(', ')}`);
          if (missing.length > 0) return { status: 'completed', notes: [{ type: 'warn', text: `No such account: ${missing.join(', ')}` }] };
          return done(`Deleted ${jids.map((j) => j.bare).join(', ')}`);
        },
      ),
    );

    add('change-user-password', 'Change User Password', (req) =>
      formThenProcess(
        req,
        adminForm('Changing a User Password', 'Fill out this form to change a user’s password.', [
          { var: 'accountjid', type: 'jid-single', label: 'The Jabber ID for this account', required: true, values: [] },
          { var: 'password', type: 'text-private', label: 'The password for this account', required: true, values: [] },
        ]),
        async (form) => {
          const jid = accountJid(ctx, getValue(form, 'accountjid'));
          const password = getValue(form, 'password') ?? '';
          if (password === '') throw new StanzaError('not-acceptable', 'a password is required');
          if (!(await ctx.server.accounts.exists(jid))) throw new StanzaError('item-not-found', `no such account: ${jid.bare}`);
          await ctx.server.accounts.setPassword(jid, password);
          ctx.log.info(`${req.from.bare} changed the password of ${jid.bare}`);
          return done('Password changed');
        },
      ),
    );

    add('end-user-session', 'End User Session', (req) =>
      formThenProcess(
        req,
        adminForm('Ending a User Session', 'Fill out this form to end a user’s session.', [
          { var: 'accountjids', type: 'jid-multi', label: 'The Jabber ID(s) for which to end sessions', required: true, values: [] },
        ]),
        async (form) => {
          const values = getValues(form, 'accountjids');
          if (values.length === 0) throw new StanzaError('bad-request', 'at least one account JID is required');
          // A bare JID ends every session of the account, a full JID only that one (XEP-0133 §4.5).
          const targets = values.map((v) => accountJid(ctx, v, true));
          let ended = 0;
          for (const jid of targets) {
            // On every cluster node: the node holding a session ends it.
            for (const r of await ctx.server.resources(jid.bare)) {
              if (!jid.isBare && r.full !== jid.full) continue;
              if (r.session !== null) endSession(r.full);
              else if (r.node === null || !(await ctx.server.nodePost(r.node, END_SESSION_TOPIC, r.full))) continue;
              ended++;
            }
          }
          return done(`Ended ${ended} session(s)`);
        },
      ),
    );

    add('get-registered-users-num', 'Get Number of Registered Users', async (req) => {
      const users = await ctx.server.accounts.list(req.to.domain);
      return {
        status: 'completed',
        form: adminResult([{ var: 'registeredusersnum', type: 'text-single', label: 'The number of registered users', values: [String(users.length)] }]),
      };
    });

    add('get-registered-users-list', 'Get List of Registered Users', (req) =>
      formThenProcess(
        req,
        adminForm('Requesting List of Registered Users', 'Fill out this form to request the registered users of this service.', [
          maxItemsField(),
        ]),
        async (form) => {
          const limit = maxItems(form);
          const users = await ctx.server.accounts.list(req.to.domain);
          return {
            status: 'completed',
            form: adminResult([{ var: 'registereduserjids', type: 'jid-multi', label: 'The list of all users', values: users.slice(0, limit) }]),
          };
        },
      ),
    );

    startOnline(ctx, add);
    await startMotd(ctx, add);
  },
});

/** An account on a served domain from a form value; `allowFull` keeps a resource instead of refusing it. */
function accountJid(ctx: ModuleContext, value: string | undefined, allowFull = false): Jid {
  if (value === undefined || value.trim() === '') throw new StanzaError('bad-request', 'an account JID is required');
  let jid: Jid;
  try {
    jid = parseJid(value.trim());
  } catch (e) {
    if (e instanceof JidError) throw new StanzaError('jid-malformed', `${value}: ${e.message}`);
    throw e;
  }
  if (jid.local === '') throw new StanzaError('bad-request', `${value} is not an account`);
  if (!ctx.server.isLocalDomain(jid.domain)) throw new StanzaError('not-acceptable', `${jid.domain} is not served here`);
  return allowFull ? jid : jid.toBare();
}

function accountJids(ctx: ModuleContext, values: string[]): Jid[] {
  if (values.length === 0) throw new StanzaError('bad-request', 'at least one account JID is required');
  return values.map((v) => accountJid(ctx, v));
}
