import { buildForm, DataFormError, findForm, NS_DATA, type DataForm } from '../../../util/data-form.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { defineModule, type IqRequest } from '../../module.js';
import type { DiscoApi } from '../xep-0030-disco/api.js';
import { NS_COMMANDS, type AdhocApi, type AdhocCommand, type CommandAction, type CommandNote, type CommandResponse, type StageAction } from './api.js';
import { CommandSessions, type CommandSession } from './sessions.js';

export * from './api.js';

const ACTIONS: ReadonlySet<string> = new Set<CommandAction>(['execute', 'next', 'prev', 'complete', 'cancel']);

/** A XEP-0050 §4.6 error: a general condition with the commands-specific one beside it. */
function commandError(condition: 'bad-request' | 'not-allowed', specific: string, text?: string): StanzaError {
  return new StanzaError(condition, text, undefined, x(specific, { xmlns: NS_COMMANDS }));
}

function commandElement(node: string, sessionid: string, status: 'executing' | 'completed' | 'canceled', parts: { actions?: XmlElement; notes?: CommandNote[]; form?: DataForm }): XmlElement {
  return x(
    'command',
    { xmlns: NS_COMMANDS, node, sessionid, status },
    parts.actions,
    ...(parts.notes ?? []).map((n) => x('note', { type: n.type }, n.text)),
    parts.form !== undefined ? buildForm(parts.form) : undefined,
  );
}

/**
 * XEP-0050 Ad-Hoc Commands at the server's domains: the framework (command
 * lists in disco, sessions, actions, errors); commands come from other
 * modules through `addCommand` (XEP-0133 administration, …). Listing and
 * running a command both ask the command whether the requester is allowed.
 */
export default defineModule({
  name: 'adhoc',
  implements: 'XEP-0050',
  depends: ['disco'],
  options: {
    sessionTimeoutSeconds: { type: 'number', default: 600, min: 1, doc: 'An unfinished multi-stage command is forgotten after this long without activity.' },
    maxSessions: { type: 'number', default: 1000, min: 1, integer: true, doc: 'Most unfinished command sessions kept at once on a node.' },
  },
  start(ctx) {
    const disco = ctx.use<DiscoApi>('disco');
    const commands = new Map<string, AdhocCommand>();
    const sessions = new CommandSessions(ctx.options.sessionTimeoutSeconds * 1000, ctx.options.maxSessions);
    ctx.every(ctx.options.sessionTimeoutSeconds * 1000, () => sessions.prune());

    const api: AdhocApi = {
      addCommand(command) {
        if (commands.has(command.node)) throw new Error(`two ad-hoc commands use node ${command.node}`);
        commands.set(command.node, command);
        return () => void commands.delete(command.node);
      },
    };
    ctx.provide(api);

    ctx.feature(NS_COMMANDS);
    ctx.onStop(
      disco.addItemsNode((node, requester, to) => {
        if (node !== NS_COMMANDS) return null;
        return [...commands.values()].filter((c) => c.allowed(requester)).map((c) => ({ jid: to.bare, node: c.node, name: c.name }));
      }),
    );
    ctx.onStop(
      disco.addInfoNode((node, requester) => {
        if (node === NS_COMMANDS) return { identities: [{ category: 'automation', type: 'command-list' }], features: [], extensions: [] };
        const c = commands.get(node);
        if (c === undefined) return null;
        // XEP-0050 §2.2; the name of an admin command is not for everyone to read.
        if (!c.allowed(requester)) throw new StanzaError('forbidden');
        return { identities: [{ category: 'automation', type: 'command-node', name: c.name }], features: [NS_COMMANDS, NS_DATA], extensions: [] };
      }),
    );

    ctx.iq('set', NS_COMMANDS, 'command', async (req) => {
      const { payload } = req;
      const node = payload.attrs.node;
      if (node === undefined) throw new StanzaError('bad-request', 'command without node');
      const command = commands.get(node);
      if (command === undefined) throw new StanzaError('item-not-found', 'no such command');
      if (!command.allowed(req.from)) throw new StanzaError('forbidden');
      const requested = payload.attrs.action ?? 'execute';
      if (!ACTIONS.has(requested)) throw commandError('bad-request', 'malformed-action');
      let form: DataForm | undefined;
      try {
        form = findForm(payload);
      } catch (e) {
        if (e instanceof DataFormError) throw commandError('bad-request', 'bad-payload', e.message);
        throw e;
      }
      const cancel = requested === 'cancel' || form?.type === 'cancel';

      const sid = payload.attrs.sessionid;
      let session: CommandSession;
      let action: Exclude<CommandAction, 'cancel'>;
      if (sid === undefined) {
        if (cancel) throw commandError('bad-request', 'bad-sessionid', 'nothing to cancel without a sessionid');
        if (requested !== 'execute') throw commandError('bad-request', 'bad-action', 'a command starts with execute');
        const opened = sessions.open(node, req.from.full);
        if (opened === null) throw new StanzaError('resource-constraint', 'too many unfinished commands');
        session = opened;
        action = 'execute';
      } else {
        const found = sessions.get(sid);
        if (found === 'expired') throw commandError('not-allowed', 'session-expired');
        if (found === undefined || found.owner !== req.from.full || found.node !== node) throw commandError('bad-request', 'bad-sessionid');
        session = found;
        if (cancel) {
          sessions.close(session.id);
          return commandElement(node, session.id, 'canceled', {});
        }
        const resolved = requested === 'execute' ? session.execute : (requested as StageAction);
        if (resolved === undefined || !session.actions.has(resolved)) throw commandError('bad-request', 'bad-action');
        action = resolved;
        sessions.touch(session);
      }
      return runStage(command, session, action, form, req);
    });

    async function runStage(command: AdhocCommand, session: CommandSession, action: Exclude<CommandAction, 'cancel'>, form: DataForm | undefined, req: IqRequest): Promise<XmlElement> {
      let response: CommandResponse;
      try {
        response = await command.execute({ from: req.from, to: req.to, action, form, payload: req.payload, stage: session.stage, state: session.state });
      } catch (e) {
        // A first stage that fails leaves nothing to come back to.
        if (session.stage === 0) sessions.close(session.id);
        throw e;
      }
      session.stage++;
      if (response.status === 'completed') {
        sessions.close(session.id);
        return commandElement(command.node, session.id, 'completed', { notes: response.notes, form: response.form });
      }
      const offered = response.actions ?? ['complete'];
      const execute = response.execute ?? offered[offered.length - 1];
      session.actions = new Set(offered);
      session.execute = execute;
      const actions = x('actions', { execute }, ...offered.map((a) => x(a)));
      return commandElement(command.node, session.id, 'executing', { actions, notes: response.notes, form: response.form });
    }
  },
});
