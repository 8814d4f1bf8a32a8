import type { Logger } from '../util/log.js';
import type { NodePostHandler, NodeRequestHandler } from '../xmpp/module.js';

/**
 * Module traffic between nodes (ServerApi.nodeRequest, nodePost): requests
 * matched to their answers by `id`, and one-way posts. They travel in the
 * locator's envelopes, next to stanzas and kicks.
 */
export type ModuleEnvelope =
  | { t: 'req'; id: number; topic: string; body: string; from: string }
  | { t: 'post'; topic: string; body: string; from: string }
  | { t: 'res'; id: number; body: string | null };

/** Queues an envelope for a node; false when it is not alive or the bus failed. */
export type EnvelopeSender = (node: string, envelope: ModuleEnvelope, what: string) => Promise<boolean>;

export class NodeRequests {
  /** Request handlers by topic (ServerApi.onNodeRequest). */
  private readonly answerers = new Map<string, NodeRequestHandler>();
  /** Post handlers by topic (ServerApi.onNodePost). */
  private readonly posts = new Map<string, NodePostHandler>();
  /** Requests sent and not yet answered, by id. */
  private readonly pending = new Map<number, { resolve: (body: string | null) => void; timer: NodeJS.Timeout }>();
  private nextRequestId = 1;

  constructor(
    private readonly nodeId: string,
    private readonly send: EnvelopeSender,
    private readonly log: Logger,
  ) {}

  /** The answer of `node`'s handler for `topic`, or null when none came within `timeoutMs` (or it has none). */
  request(node: string, topic: string, body: string, timeoutMs: number): Promise<string | null> {
    if (node === this.nodeId) return Promise.resolve(null);
    const id = this.nextRequestId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(null), timeoutMs);
      timer.unref();
      const done = (answer: string | null): void => {
        if (this.pending.get(id)?.timer !== timer) return;
        this.pending.delete(id);
        clearTimeout(timer);
        resolve(answer);
      };
      this.pending.set(id, { resolve: done, timer });
      void this.send(node, { t: 'req', id, topic, body, from: this.nodeId }, `request ${topic}`).then((sent) => {
        if (!sent) done(null);
      });
    });
  }

  answer(topic: string, handler: NodeRequestHandler): () => void {
    return registerTopic(this.answerers, topic, handler);
  }

  async post(node: string, topic: string, body: string): Promise<boolean> {
    return node !== this.nodeId && this.send(node, { t: 'post', topic, body, from: this.nodeId }, `post ${topic}`);
  }

  onPost(topic: string, handler: NodePostHandler): () => void {
    return registerTopic(this.posts, topic, handler);
  }

  /** An envelope from another node; `orphaned` when it sat unhandled in the inbox of a node that died. */
  async receive(envelope: ModuleEnvelope, orphaned: boolean): Promise<void> {
    if (envelope.t === 'res') {
      if (!orphaned) this.pending.get(envelope.id)?.resolve(envelope.body);
      return;
    }
    if (envelope.t === 'req') {
      // A dead node's unanswered requests have timed out at their senders.
      if (orphaned) return;
      const handler = this.answerers.get(envelope.topic);
      let body: string | null = null;
      try {
        if (handler !== undefined) body = await handler(envelope.body, envelope.from);
      } catch (err) {
        this.log.error(`answering ${envelope.topic} from ${envelope.from} failed`, err);
      }
      await this.send(envelope.from, { t: 'res', id: envelope.id, body }, `answer to ${envelope.topic}`);
      return;
    }
    // A dead node's posts are handled here: the stanzas they carry were accepted and must not be lost.
    const handler = this.posts.get(envelope.topic);
    if (handler === undefined) {
      this.log.warn(`post ${envelope.topic} from ${envelope.from}: no handler; dropped`);
      return;
    }
    try {
      await handler(envelope.body, envelope.from);
    } catch (err) {
      this.log.error(`handling post ${envelope.topic} from ${envelope.from} failed`, err);
    }
  }
}

/** Sets the handler of a topic; the undo removes it only if it is still that handler. */
function registerTopic<H>(handlers: Map<string, H>, topic: string, handler: H): () => void {
  handlers.set(topic, handler);
  return () => {
    if (handlers.get(topic) === handler) handlers.delete(topic);
  };
}
