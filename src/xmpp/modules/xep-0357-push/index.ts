import { tryParseJid, type Jid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';
import { getValue, parseForm, type DataForm } from '../../../util/data-form.js';
import { ConfigError, resolveOptions } from '../../../util/options.js';
import { createPushProviders, parsePushApps, PushDispatcher, PUSH_DISPATCHER_OPTIONS, type PushAppConfig } from '../../../push/index.js';
import type { FcmProviderDeps } from '../../../push/fcm.js';
import { StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import { defineModule, type IqRequest, type Resource } from '../../module.js';
import { CARBONS_ENABLED, takesBareJidMessages, type ClientSession } from '../../session.js';
import { carbonEligible } from '../../carbon-copies.js';
import { groupchatBody, pushWorthy, type PushWorthy } from './important.js';
import { mentions } from './mention.js';
import type { MucApi } from '../xep-0045-muc/index.js';
import { watchUnacknowledged } from './unacked.js';
import { createNotifier, NS_PUSH, type NotificationOrigins } from './notify.js';
import { REGISTRATIONS_TABLE, RegistrationStore, registrationKey, type Registration } from './registrations.js';
import { isThenable } from '../../../util/maybe-async.js';

export { pushWorthy } from './important.js';
export type { Registration } from './registrations.js';

export { NS_PUBSUB, NS_PUSH, NS_SUMMARY } from './notify.js';
export const NS_PUBLISH_OPTIONS = 'http://jabber.org/protocol/pubsub#publish-options';

/** What tests and other modules may use. */
export interface PushApi {
  /** The registrations of an account (its owner's view). */
  registrations(owner: string): Promise<Registration[]>;
  /** Resolves once every push decided so far has been handed over and settled (tests, shutdown). */
  idle(): Promise<void>;
  /** The built-in app server's dispatcher, or null when no apps are configured. */
  readonly dispatcher: PushDispatcher | null;
}

export interface PushModuleDeps {
  /** Passed to FCM providers (an OAuth2 credential in tests). */
  fcm?: FcmProviderDeps;
}

/** Runs before offline storage (priority 0) so the push goes out whether or not storing succeeds; returns false so storage still happens. */
const OFFLINE_PRIORITY = 50;
/** After archiving and blocking decided the message is delivered. */
const DELIVERY_PRIORITY = -300;

function hibernated(r: Resource): boolean {
  return r.session !== null ? !r.session.connected : r.hibernated === true;
}

function carbonsOn(r: Resource): boolean {
  return r.session !== null ? r.session.get(CARBONS_ENABLED) === true : r.carbons === true;
}

/**
 * XEP-0357 Push Notifications, both roles of the user's server:
 *
 * 1. Standard: clients `enable` an app server JID + node (with a
 *    publish-options form, e.g. a secret); for each message that counts, sori
 *    publishes a `urn:xmpp:push:summary` notification to that node from the
 *    user's bare JID (`ctx.server.sendIq`), with the publish-options. An error
 *    from the app server removes the registration (§7.1); one of type wait,
 *    and no answer within `publishTimeoutMs`, only after 16 in a row.
 * 2. Built-in app server: when the registration's JID is sori's push
 *    component (`push.<domain>` by default), sori is the app server itself:
 *    the publish-options form names the device — `token` (APNs device token
 *    or FCM registration token), `app` (an id of `apps`; optional when one app
 *    is configured), `service` (apns|fcm, optional check) — and pushes go to
 *    APNs/FCM through src/push's PushDispatcher. A token the service reports
 *    dead (APNs 410/BadDeviceToken, FCM UNREGISTERED) removes the registration.
 *
 * When: a message that counts (important.ts) for an account
 *  - with no resource to take it (`message/offline`): every registration;
 *  - delivered to hibernated XEP-0198 sessions, as the message or as a
 *    received carbon: the registrations those sessions enabled, and those
 *    whose enabling session is gone (see `delivered`);
 *  - a groupchat message a room of this server's muc module (when loaded)
 *    delivers to a hibernated occupant, if it mentions the occupant
 *    (mention.ts) and was not sent by the same account, under any nick:
 *    as above. Clients do not highlight the rest, and a busy room would
 *    keep a phone awake;
 *  - written to a connected XEP-0198 session that has not acknowledged it
 *    after `unackedSeconds`: the same registrations, for that session (the
 *    server learns of a dead connection only when TCP gives up, many minutes
 *    later; Prosody pushes on a delayed ack, ejabberd closes the connection).
 * Each registration gets one push per message (dedup by message id, else
 * stanza-id, else the message object, which a requeued copy is linked to,
 * else content: see `unnamedKey` in notify.ts; bounded memory).
 * `message-count` is the number of messages pushed since the account last
 * had an available session (per node, in memory).
 *
 * Pushes never hold delivery back: the decision runs beside it and the
 * dispatcher only queues.
 */
export function createPushModule(deps: PushModuleDeps = {}) {
  return defineModule({
    name: 'push',
    implements: 'XEP-0357',
    // The recipient's nick in a room, to push mentions in groupchat.
    optionalDepends: ['muc'],
    options: {
      componentJid: { type: 'optional-string', doc: "JID of the built-in app server; default `push.<domain>` for every served domain." },
      apps: {
        type: 'record',
        default: {},
        doc: 'Built-in app server apps by id: { "<id>": { "type": "apns"|"fcm", … } } with the keys of docs/push.md (the id is the key).',
      },
      dispatcher: { type: 'record', default: {}, doc: 'PushDispatcher options (maxAttempts, baseDelayMs, maxDelayMs, concurrencyPerApp, maxQueuedPerApp, requestTimeoutMs).' },
      includeSender: { type: 'boolean', default: false, doc: "Standard path: put last-message-sender in the summary sent to third-party app servers." },
      includeBody: { type: 'boolean', default: false, doc: 'Standard path: put last-message-body in the summary sent to third-party app servers.' },
      includeCount: { type: 'boolean', default: true, doc: 'Standard path: put message-count in the summary.' },
      maxRegistrations: { type: 'number', default: 20, min: 1, integer: true, doc: 'Registrations one account may hold; enabling more is refused (resource-constraint).' },
      publishTimeoutMs: { type: 'number', default: 15_000, min: 1, doc: 'How long to wait for an app server to answer a publish.' },
      dedupEntries: { type: 'number', default: 20_000, min: 1, integer: true, doc: 'Remembered (registration, message) pairs, so each device gets one push per message.' },
      unackedSeconds: {
        type: 'number',
        default: 60,
        min: 0,
        doc: 'Seconds a connected client with stream management (XEP-0198) has to acknowledge a message that would wake it; past them (a phone whose network went without the connection closing, an app the OS froze) its registrations are pushed as for a hibernated session. Keep it above `sm.requestAckSeconds`; 0 turns this off.',
      },
    },
    tables: [{ name: REGISTRATIONS_TABLE, description: 'XEP-0357 push registrations: pk account bare JID, sk `<app server jid>|<node>`.' }],
    async start(ctx) {
      const opts = ctx.options;
      const server = ctx.server;
      const store = new RegistrationStore(ctx.table(REGISTRATIONS_TABLE));
      const muc = ctx.useIfLoaded<MucApi>('muc');

      // ---- built-in app server ----
      const apps: PushAppConfig[] = parsePushApps(
        Object.entries(opts.apps).map(([id, app]) => {
          if (typeof app !== 'object' || app === null || Array.isArray(app)) throw new ConfigError(`modules.options.push.apps.${id}: expected an object`);
          return { id, ...(app as Record<string, unknown>) };
        }),
        'modules.options.push.apps',
      );
      const appsById = new Map(apps.map((a) => [a.id, a]));
      const origins: NotificationOrigins = new WeakMap();
      const dispatcher =
        apps.length === 0
          ? null
          : new PushDispatcher(await createPushProviders(apps, deps.fcm), resolveOptions(PUSH_DISPATCHER_OPTIONS, opts.dispatcher, 'modules.options.push.dispatcher'), {
              logger: ctx.log,
              onSettled: (appId, n, result) => {
                if (result.status !== 'invalid-token') return;
                const o = origins.get(n);
                if (o === undefined) return;
                track(
                  store.removeIfUnchanged(o.owner, o.registration).then((removed) => {
                    if (removed) ctx.log.info(`push token of ${o.owner} (${appId}) is no longer valid: registration removed`);
                  }),
                );
              },
            });
      if (dispatcher !== null) {
        ctx.onStop(() => dispatcher.close());
        const c = dispatcher.counters;
        server.metrics.counterFrom('sori_push_notifications_total', 'Pushes sori sent to APNs and FCM itself, by outcome (sent, failed, dropped: refused before sending, e.g. a full queue).', () => [[['sent'], c.sent], [['failed'], c.failed], [['dropped'], c.dropped]], ['outcome']);
        server.metrics.counterFrom('sori_push_retries_total', 'Push attempts retried after a transient failure.', () => c.retried);
        server.metrics.counterFrom('sori_push_invalid_tokens_total', 'Device tokens the push service no longer knows (registration removed).', () => c.invalidated);
      }
      const components = new Set(server.hosts.map((h) => opts.componentJid ?? `push.${h}`));

      // ---- bookkeeping ----
      const pending = new Set<Promise<unknown>>();
      function track(p: Promise<unknown>): void {
        const q = p.catch((e: unknown) => ctx.log.warn('push failed', e)).finally(() => pending.delete(q));
        pending.add(q);
      }
      const { notify, markUnnamed, markCopy, forgetCount } = createNotifier({ options: opts, server, store, log: ctx.log, dispatcher, origins, track });
      ctx.provide<PushApi>({
        registrations: (owner) => store.list(owner),
        async idle() {
          while (pending.size > 0) await Promise.all([...pending]);
          if (dispatcher !== null) await dispatcher.idle();
        },
        dispatcher,
      });

      // ---- enable / disable (§5, §6) ----
      ctx.feature(NS_PUSH, 'account');

      function own(req: IqRequest): string {
        if (!req.isSelf || req.origin === null) throw new StanzaError('forbidden', 'only the account itself manages its push registrations');
        return req.from.bare;
      }

      function builtinDevice(form: DataForm | undefined): { app: string; token: string } {
        const token = form ? getValue(form, 'token') : undefined;
        if (token === undefined || token === '') throw new StanzaError('not-acceptable', 'the built-in app server needs a publish-options field "token"');
        const service = form ? getValue(form, 'service') : undefined;
        let app = form ? getValue(form, 'app') : undefined;
        if (app === undefined) {
          const candidates = apps.filter((a) => service === undefined || a.type === service);
          if (candidates.length !== 1) throw new StanzaError('not-acceptable', 'name the app in the publish-options field "app"');
          app = candidates[0]!.id;
        }
        const config = appsById.get(app);
        if (config === undefined) throw new StanzaError('item-not-found', `no push app "${app}" here`);
        if (service !== undefined && service !== config.type) throw new StanzaError('not-acceptable', `app "${app}" is ${config.type}, not ${service}`);
        return { app, token };
      }

      ctx.iq(
        'set',
        NS_PUSH,
        'enable',
        async (req) => {
          const owner = own(req);
          const jid = tryParseJid(req.payload.attrs.jid);
          const node = req.payload.attrs.node;
          if (jid === null || node === undefined || node === '') throw new StanzaError('bad-request', 'enable needs a jid and a node');
          const formEl = req.payload.getChild('x', 'jabber:x:data');
          let form: DataForm | undefined;
          try {
            form = formEl === undefined ? undefined : parseForm(formEl);
          } catch {
            throw new StanzaError('bad-request', 'the publish-options form is malformed');
          }
          const device = components.has(jid.full) ? builtinDevice(form) : undefined;
          const existing = await store.list(owner);
          const key = registrationKey(jid.full, node);
          if (!existing.some((r) => registrationKey(r.jid, r.node) === key) && existing.length >= opts.maxRegistrations) {
            throw new StanzaError('resource-constraint', `at most ${opts.maxRegistrations} push registrations per account`);
          }
          await store.put(owner, { jid: jid.full, node, publishOptions: formEl?.toString() ?? null, resource: req.from.full, createdMs: Date.now(), device });
        },
        'account',
      );

      ctx.iq(
        'set',
        NS_PUSH,
        'disable',
        async (req) => {
          const owner = own(req);
          const jid = tryParseJid(req.payload.attrs.jid);
          if (jid === null) throw new StanzaError('bad-request', 'disable needs a jid');
          const node = req.payload.attrs.node;
          // §6: without a node, every registration with that app server goes.
          for (const r of await store.list(owner)) if (r.jid === jid.full && (node === undefined || r.node === node)) await store.remove(owner, r.jid, r.node);
        },
        'account',
      );

      ctx.hook('account/deleted', async ({ jid }) => {
        await store.removeAll(jid.bare);
        forgetCount(jid.bare);
      });
      const online = ({ session }: { session: { jid: Jid } }): void => forgetCount(session.jid.bare);
      ctx.hook('session/available', online);
      ctx.hook('session/resumed', online);

      // Nobody can take it: every registration (then offline storage keeps it).
      ctx.hook(
        'message/offline',
        ({ stanza, to, requeued, copyOf }) => {
          if (pushWorthy(stanza) === null) return false;
          if (requeued !== true) {
            markUnnamed(stanza, to.domain);
            track(notify(to.bare, stanza, (regs) => regs));
            return false;
          }
          // A session ended without acknowledging it: the devices that are not connected now learn of it
          // (notify skips a registration already pushed for this message); a connected one has it already.
          if (copyOf !== undefined) markCopy(stanza, copyOf, to.domain);
          track(
            notify(to.bare, stanza, async (regs) => {
              const connected = new Set((await server.resources(to.bare)).filter((r) => !hibernated(r)).map((r) => r.full));
              return regs.filter((reg) => !connected.has(reg.resource));
            }),
          );
          return false;
        },
        OFFLINE_PRIORITY,
      );

      /**
       * The registrations of sessions that cannot read now (`asleep`, full JIDs), and of sessions now gone: a
       * registration whose session is gone belongs to the account (§7 publishes to all of them), and may be the
       * device behind a sleeping session that came back under a new resource without enabling again.
       */
      function forSleepers(asleep: Set<string>, resources: Resource[]): (regs: Registration[]) => Registration[] {
        const bound = new Set(resources.map((r) => r.full));
        return (regs) => regs.filter((r) => asleep.has(r.resource) || !bound.has(r.resource));
      }

      /**
       * A groupchat message from an occupant of one of our rooms to a session joined there: worth a look once that
       * session is found asleep. Cheap, as it runs for every copy a room sends: the mention is judged later.
       */
      function fromLocalRoom(ev: RouteEvent): boolean {
        return muc !== null && ev.from.resource !== '' && ev.to.resource !== '' && muc.domains.has(ev.from.domain) && ev.stanza.getChild('body') !== undefined;
      }

      /**
       * What of a room message counts for the occupant `to` (a full JID): its body, when it mentions that occupant
       * and `speaker` (the sender's real bare JID) is not the account pushed. Accounts, not nicks, are compared: a
       * user joined from two clients under two nicks must not be woken by what they wrote on the other one.
       */
      function mentionOf(ev: RouteEvent, speaker: string | undefined): PushWorthy | null {
        const body = groupchatBody(ev.stanza);
        if (body === undefined || muc === null || speaker === ev.to.bare) return null;
        const nick = muc.occupantNick(ev.from.bare, ev.to.full);
        if (nick === undefined || nick === ev.from.resource) return null;
        return mentions(ev.stanza, body, { nick, occupantJid: `${ev.from.bare}/${nick}`, bare: ev.to.bare }) ? { message: ev.stanza, body } : null;
      }

      // Delivered, but to hibernated sessions: the registrations those sessions made, and those of sessions now gone.
      const delivered = (ev: RouteEvent): false => {
        const groupchat = ev.stanza.attrs.type === 'groupchat';
        if (groupchat ? !fromLocalRoom(ev) : pushWorthy(ev.stanza) === null) return false;
        const stanza = ev.stanza;
        const to = ev.to;
        // Hot path: look at the resources first; registrations are read only when one is asleep.
        const found = server.resources(to.bare);
        // Nobody asleep (the usual case, known without a promise on a single node): nothing to push.
        if (!isThenable(found) && !found.some(hibernated)) return false;
        markUnnamed(stanza, to.domain);
        // Read now, in the room's turn: the speaker may have left the room by the time the resources are known.
        const speaker = groupchat ? muc?.occupantBare(ev.from.bare, ev.from.resource) : undefined;
        track(
          (async () => {
            const resources = await found;
            const direct = to.resource !== '' && resources.some((r) => r.full === to.full) ? to.full : null;
            // With no resource to take a bare-routed message, message/offline handles it.
            if (direct === null && !resources.some(takesBareJidMessages)) return;
            const copied = carbonEligible(stanza, true);
            const asleep = new Set(
              resources.filter((r) => hibernated(r) && ((direct !== null ? r.full === direct : takesBareJidMessages(r)) || (copied && carbonsOn(r)))).map((r) => r.full),
            );
            if (asleep.size === 0) return;
            if (!groupchat) return notify(to.bare, stanza, forSleepers(asleep, resources));
            // Only now, with someone asleep, is the body searched for the nick.
            const worthy = mentionOf(ev, speaker);
            if (worthy !== null) await notify(to.bare, stanza, forSleepers(asleep, resources), worthy);
          })(),
        );
        return false;
      };
      ctx.hook('message/bare', delivered, DELIVERY_PRIORITY);
      ctx.hook('message/full', delivered, DELIVERY_PRIORITY);

      // Written to a session that looks connected but does not acknowledge it: pushed as if it were hibernated.
      if (opts.unackedSeconds > 0) {
        const waitMs = opts.unackedSeconds * 1000;
        const late = (session: ClientSession, message: XmlElement): void => {
          const owner = session.jid.bare;
          track(
            (async () => {
              const resources = await server.resources(owner);
              await notify(owner, message, forSleepers(new Set([session.jid.full]), resources));
            })(),
          );
        };
        ctx.hook('message/delivered', ({ session, stanza }) => watchUnacknowledged(session, stanza, waitMs, late, markUnnamed));
      }
    },
  });
}

export default createPushModule();
