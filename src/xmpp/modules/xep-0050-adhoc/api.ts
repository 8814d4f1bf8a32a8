import type { DataForm } from '../../../util/data-form.js';
import type { Jid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';

export const NS_COMMANDS = 'http://jabber.org/protocol/commands';

/** What a requester may ask for (XEP-0050 §3.4); `execute` is resolved to the stage's default before a command sees it. */
export type CommandAction = 'execute' | 'next' | 'prev' | 'complete' | 'cancel';

/** The actions a stage offers the requester (`<actions/>` children). */
export type StageAction = 'next' | 'prev' | 'complete';

export interface CommandNote {
  type: 'info' | 'warn' | 'error';
  text: string;
}

/** What one stage of a command hands back. */
export type CommandResponse =
  | {
      status: 'executing';
      /** The form the requester fills for the next stage. */
      form: DataForm;
      /** Actions offered on this stage; defaults to ['complete']. */
      actions?: StageAction[];
      /** The action a plain `execute` stands for; defaults to the last of `actions`. */
      execute?: StageAction;
      notes?: CommandNote[];
    }
  | {
      status: 'completed';
      /** A result form (type 'result'), if the command has data to show. */
      form?: DataForm;
      notes?: CommandNote[];
    };

/** One request to a command, with the state it kept from earlier stages. */
export interface CommandRequest {
  /** The requester's full JID. */
  from: Jid;
  /** The domain the command was addressed to. */
  to: Jid;
  /**
   * The action as resolved: 'execute' only on the first stage; later a plain
   * execute arrives as the stage's default (`next`, `complete`…). Never
   * 'cancel': cancellation is answered by the framework.
   */
  action: Exclude<CommandAction, 'cancel'>;
  /** The submitted data form, when the request carried one. */
  form: DataForm | undefined;
  /** The `<command/>` element, for commands that read other payloads. */
  payload: XmlElement;
  /** Stages already answered in this session (0 on the first request). */
  stage: number;
  /** Per-session scratch space a command keeps between stages. */
  state: Map<string, unknown>;
}

export interface AdhocCommand {
  /** Unique node, e.g. `http://jabber.org/protocol/admin#add-user`. */
  node: string;
  /** Human-readable name shown in command lists. */
  name: string;
  /** Whether `jid` (the requester's full JID) may list and run it. */
  allowed(jid: Jid): boolean;
  /** Answers one stage; throw a StanzaError to refuse (the session stays open for a retry). */
  execute(req: CommandRequest): CommandResponse | Promise<CommandResponse>;
}

/** What the adhoc module offers modules that declare `depends: ['adhoc']`. */
export interface AdhocApi {
  /** Offers a command at every served domain; returns its removal (pass it to `ctx.onStop`). */
  addCommand(command: AdhocCommand): () => void;
}
