import { ConfigError } from '../../../util/options.js';
import { JidError, normaliseLocal, parseJid, type Jid } from '../../../util/jid.js';
import { findForm, getValue } from '../../../util/data-form.js';
import { saslprep } from '../../../util/saslprep.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { errorReply, StanzaError } from '../../errors.js';
import { defineModule, type IqRequest, type ModuleContext, type PreAuthStream } from '../../module.js';
import { DeletedNames } from './deleted-names.js';
import { RegistrationThrottle } from './throttle.js';

export const NS_REGISTER = 'jabber:iq:register';
export const NS_REGISTER_FEATURE = 'http://jabber.org/features/iq-register';
/** Node post: ends one session (body: its full JID) after its account's password changed. */
const PASSWORD_CHANGED_TOPIC = 'register/password-changed';

const options = {
  minSecondsBetweenRegistrations: {
    type: 'number',
    default: 60,
    min: 0,
    doc: 'Seconds one IP address must wait between two registrations (0 disables the limit). Counted per node.',
  },
  allowInsecure: { type: 'boolean', default: false, doc: 'Allow registration and password changes on streams that are not encrypted.' },
  reuseDeletedNamesAfterDays: {
    type: 'number',
    default: 0,
    min: 0,
    doc: 'Days after an account is deleted before its username can be registered again; 0: never. Other users\' MUC and PEP affiliations and remote rosters still name the deleted address, and a newcomer must not inherit them.',
  },
  instructions: { type: 'string', default: 'Choose a username and password to register with this server.', doc: 'Text shown to clients that ask how to register.' },
} as const;

type Ctx = ModuleContext<typeof options>;

/**
 * XEP-0077 In-Band Registration for the server itself: account creation
 * before authentication, and after it password change and account removal.
 * Off by default (open registration invites spam); enable it with
 * `modules.enabled: ["register"]`.
 */
export default defineModule({
  name: 'register',
  implements: 'XEP-0077',
  defaultEnabled: false,
  options,
  tables: [{ name: 'register_deleted', description: 'XEP-0077: usernames of deleted accounts, held from registration: pk = bare JID, sk = "deleted", value = JSON {ms}.' }],
  start(ctx) {
    if (!ctx.server.passwordLogins) throw new ConfigError('modules: register signs up accounts with passwords, but auth.passwords is false (logins are tokens only); disable register');
    const throttle = new RegistrationThrottle(ctx.options.minSecondsBetweenRegistrations * 1000);
    if (ctx.options.minSecondsBetweenRegistrations > 0) ctx.every(Math.max(1000, ctx.options.minSecondsBetweenRegistrations * 1000), () => throttle.prune());
    const allowed = (secure: boolean): boolean => secure || ctx.options.allowInsecure;
    const deletedNames = new DeletedNames(ctx.table('register_deleted'), ctx.options.reuseDeletedNamesAfterDays);
    ctx.hook('account/deleted', ({ jid }) => deletedNames.hold(jid));
    ctx.onStop(ctx.server.onNodePost(PASSWORD_CHANGED_TOPIC, (full) => endForNewPassword(ctx, full)));

    ctx.feature(NS_REGISTER);
    ctx.streamFeature('pre-auth', (stream) => (allowed(stream.secure) ? x('register', { xmlns: NS_REGISTER_FEATURE }) : null));

    ctx.preAuthIq(NS_REGISTER, async (iq, stream) => {
      try {
        const result = await preAuth(ctx, { throttle, deletedNames }, iq, stream, allowed(stream.secure));
        stream.sendRaw(x('iq', { type: 'result', id: iq.attrs.id }, result ?? undefined));
      } catch (e) {
        if (!(e instanceof StanzaError)) ctx.log.error('registration failed', e);
        stream.sendRaw(errorReply(iq, e instanceof StanzaError ? e : new StanzaError('internal-server-error')));
      }
    });

    // An authenticated user addresses these to its server (to=domain) or to nobody (to=own bare JID).
    ctx.iq('get', NS_REGISTER, 'query', (req) => {
      const account = ownAccount(req);
      return x('query', { xmlns: NS_REGISTER }, x('registered'), x('username', null, account.local), x('password'));
    }, 'both');
    ctx.iq('set', NS_REGISTER, 'query', (req) => {
      const account = ownAccount(req);
      if (req.payload.getChild('remove') !== undefined) return removeAccount(ctx, req, account);
      // The new password travels in the clear like a registration's, so the same rule holds (XEP-0077 §3.3 lets a server refuse).
      if (!allowed(req.origin?.secure ?? false)) throw new StanzaError('not-authorized', 'change the password over an encrypted connection');
      return changePassword(ctx, req, account);
    }, 'both');
  },
});

/** The requester's own account; anything else is not ours to answer. */
function ownAccount(req: IqRequest): Jid {
  const atOwnServer = req.to.local === '' && req.to.resource === '' && req.to.domain === req.from.domain;
  if (!req.isSelf && !atOwnServer) throw new StanzaError('service-unavailable');
  return req.from.toBare();
}

async function preAuth(ctx: Ctx, guards: { throttle: RegistrationThrottle; deletedNames: DeletedNames }, iq: XmlElement, stream: PreAuthStream, allowed: boolean): Promise<XmlElement | null> {
  const { throttle, deletedNames } = guards;
  // The stream hands over any iq whose first child is in the namespace, <query/> or not.
  const query = iq.getChild('query', NS_REGISTER);
  const type = iq.attrs.type;
  if (type !== 'get' && type !== 'set') throw new StanzaError('bad-request', 'iq type must be get or set');
  if (query === undefined) throw new StanzaError('bad-request', 'expected <query xmlns="jabber:iq:register"/>');
  if (iq.attrs.to !== undefined && iq.attrs.to !== stream.host) throw new StanzaError('service-unavailable');
  if (!allowed) throw new StanzaError('not-authorized', 'registration requires an encrypted connection');
  if (type === 'get') {
    return x('query', { xmlns: NS_REGISTER }, x('instructions', null, ctx.options.instructions), x('username'), x('password'));
  }
  if (query.getChild('remove') !== undefined) throw new StanzaError('not-authorized', 'log in to remove an account');
  const { username, password } = submittedCredentials(query);
  const local = loginName(username);
  checkPassword(password);
  const wait = throttle.waitSeconds(stream.remoteAddress);
  if (wait > 0) throw new StanzaError('resource-constraint', `too many registrations from your address; try again in ${wait} s`);
  throttle.record(stream.remoteAddress);
  const jid = parseJid(`${local}@${stream.host}`);
  try {
    // Worded as a taken name is: an unauthenticated client must not learn that the name had an account, since deleted.
    if (await deletedNames.held(jid)) throw new StanzaError('conflict', 'that username is taken');
    // server.admins names accounts the operator creates: whoever registered one first would administer the server (XEP-0133).
    if (ctx.server.accounts.isAdmin(jid)) throw new StanzaError('conflict', 'that username is taken');
    if (!(await ctx.server.createAccount(jid, password))) throw new StanzaError('conflict', 'that username is taken');
  } catch (e) {
    // Only one registration per address is ever in flight (the record above turns others away), so this frees the address for a retry.
    throttle.release(stream.remoteAddress);
    throw e;
  }
  ctx.log.info(`registered ${jid.bare} from ${stream.remoteAddress}`);
  return null;
}

/**
 * The account's localpart for a requested username. SASL logs in with the
 * SASLprep form of what the client types, so a localpart that SASLprep
 * changes (soft hyphen, zero-width joiner: invisible, so "ali\u00ADce" poses
 * as alice and logs in as her) or refuses (private use) could never log in.
 */
function loginName(username: string): string {
  let local: string;
  try {
    local = normaliseLocal(username);
  } catch (e) {
    if (e instanceof JidError) throw new StanzaError('not-acceptable', `invalid username: ${e.message}`);
    throw e;
  }
  if (local === '') throw new StanzaError('not-acceptable', 'a username is required');
  let prepared: string;
  try {
    prepared = saslprep(local);
  } catch {
    throw new StanzaError('not-acceptable', 'invalid username: it has characters a login cannot carry');
  }
  if (prepared !== local) throw new StanzaError('not-acceptable', 'invalid username: it has invisible or ignorable characters');
  return local;
}

/**
 * Logins SASLprep the password (RFC 4013), which refuses controls, private
 * use and code points unassigned in Unicode 3.2 (every emoji): such a
 * password could never be typed in to log in, so it is refused up front.
 */
function checkPassword(password: string): void {
  if (password === '') throw new StanzaError('not-acceptable', 'a password is required');
  try {
    saslprep(password);
  } catch {
    throw new StanzaError('not-acceptable', 'the password has characters a login cannot carry (controls, emoji, private use)');
  }
}

/** Legacy fields, or the XEP-0077 §4 data form when the client sent one instead. */
function submittedCredentials(query: XmlElement): { username: string; password: string } {
  const form = findForm(query);
  if (form !== undefined) return { username: getValue(form, 'username') ?? '', password: getValue(form, 'password') ?? '' };
  return { username: query.getChildText('username') ?? '', password: query.getChildText('password') ?? '' };
}

async function changePassword(ctx: Ctx, req: IqRequest, account: Jid): Promise<null> {
  const query = req.payload;
  const username = query.getChildText('username');
  const password = query.getChildText('password');
  if (username === undefined || password === undefined) throw new StanzaError('bad-request', 'username and password are required');
  let local: string;
  try {
    local = normaliseLocal(username);
  } catch {
    throw new StanzaError('bad-request', 'username does not match this account');
  }
  if (local !== account.local) throw new StanzaError('bad-request', 'username does not match this account');
  checkPassword(password);
  await ctx.server.accounts.setPassword(account, password);
  ctx.log.info(`password changed for ${account.bare}`);
  // A password is often changed because it leaked: the account's other sessions, on every node, may be the intruder's.
  for (const r of await ctx.server.resources(account.bare)) {
    if (r.full === req.from.full) continue;
    if (r.session !== null) endForNewPassword(ctx, r.full);
    else if (r.node !== null) await ctx.server.nodePost(r.node, PASSWORD_CHANGED_TOPIC, r.full);
  }
  return null;
}

/** RFC 6120 §4.9.3.16: reset is for a stream whose security context was revoked; the client logs in again. */
function endForNewPassword(ctx: Ctx, full: string): void {
  ctx.server.localSession(full)?.close('reset', 'the account\'s password was changed');
}

/**
 * Removes the account through the core (which ends its sessions and fires
 * account/deleted so every module deletes its data). XEP-0077 §3.2 wants the
 * result before the stream is closed with not-authorized, so the result is
 * written to the requesting session first; the dispatcher's own reply then
 * finds that session closed and is dropped. The credentials go before the
 * result: a store that cannot remove them must be answered with an error,
 * not a result for an account that still logs in.
 */
async function removeAccount(ctx: Ctx, req: IqRequest, account: Jid): Promise<null> {
  await ctx.server.accounts.remove(account);
  const origin = req.origin;
  if (origin !== null && origin.open) {
    origin.send(x('iq', { xmlns: 'jabber:client', type: 'result', id: req.stanza.attrs.id, from: req.stanza.attrs.to === undefined ? undefined : req.to.full, to: req.from.full }));
  }
  await ctx.server.deleteAccount(account);
  ctx.log.info(`account ${account.bare} removed by its owner`);
  return null;
}
