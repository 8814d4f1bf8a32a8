/**
 * A lean XMPP client for load generation, speaking only standard protocol so
 * it runs unchanged against any server: STARTTLS, SCRAM-SHA-1, resource
 * binding, roster get, initial presence, messages, IQs, in-band registration.
 *
 * During login it awaits stanzas one by one (clear and cheap for a few
 * round trips); afterwards it dispatches: messages to `onMessage`, IQ
 * results to their pending request, everything else is dropped.
 */
import { ScramSha1Client } from './scram.js';
import { TcpTransport, WebSocketTransport, type Transport, type TransportEvents } from './transport.js';
import { attribute, childText, escapeXml } from './stanza-splitter.js';

export interface ClientOptions {
  host: string;
  port: number;
  domain: string;
  username: string;
  password: string;
  resource: string;
  /** When set, connect over RFC 7395 WebSocket instead of TCP + STARTTLS. */
  webSocketUrl?: string;
  /** TCP without STARTTLS: the server must allow it. */
  plainTcp?: boolean;
  timeoutMs: number;
}

export interface LoginTimings {
  /** Milliseconds from TCP connect start to the roster result (initial presence then sent). */
  totalMs: number;
  connectMs: number;
  tlsMs: number;
  authMs: number;
}

type StanzaWaiter = (stanza: string) => void;

export class XmppClient {
  jid = '';
  onMessage: ((stanza: string) => void) | null = null;
  private transport: Transport | null = null;
  private readonly inbox: string[] = [];
  private waiter: StanzaWaiter | null = null;
  private failure: Error | null = null;
  private failWaiter: ((error: Error) => void) | null = null;
  private readonly pendingIqs = new Map<string, (stanza: string) => void>();
  private nextIqId = 1;
  private loggedIn = false;
  private closedByUs = false;
  closed = false;

  constructor(private readonly options: ClientOptions) {}

  private readonly events: TransportEvents = {
    onStreamHeader: () => {},
    onStanza: (stanza) => this.receive(stanza),
    onStreamEnd: () => this.fail(new Error('server closed the stream')),
    onClose: (error) => {
      this.closed = true;
      this.fail(error ?? new Error('connection closed'));
    },
  };

  private receive(stanza: string): void {
    if (this.loggedIn) {
      this.dispatch(stanza);
    } else if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = null;
      waiter(stanza);
    } else {
      this.inbox.push(stanza);
    }
  }

  private dispatch(stanza: string): void {
    if (stanza.startsWith('<message')) {
      this.onMessage?.(stanza);
    } else if (stanza.startsWith('<iq')) {
      const id = attribute(stanza, 'id');
      const pending = id === undefined ? undefined : this.pendingIqs.get(id);
      if (pending) {
        this.pendingIqs.delete(id!);
        pending(stanza);
      } else if (attribute(stanza, 'type') === 'get' || attribute(stanza, 'type') === 'set') {
        // Answer pings and anything else so servers do not think we are dead.
        const from = attribute(stanza, 'from');
        this.send(`<iq type='result' id='${escapeXml(id ?? '')}'${from ? ` to='${escapeXml(from)}'` : ''}/>`);
      }
    } else if (stanza.includes('stream:error') || stanza.startsWith('<error')) {
      this.fail(new Error(`stream error: ${stanza.slice(0, 200)}`));
    }
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.failWaiter?.(error);
    for (const pending of this.pendingIqs.values()) pending(`<iq type='error'><closed/></iq>`);
    this.pendingIqs.clear();
  }

  private nextStanza(): Promise<string> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  /** Next stanza that is not a stray presence/message arriving during setup. */
  private async nextRelevant(): Promise<string> {
    for (;;) {
      const stanza = await this.nextStanza();
      if (stanza.includes('stream:error') || stanza.startsWith('<error')) throw new Error(`stream error: ${stanza.slice(0, 300)}`);
      if (!stanza.startsWith('<presence') && !stanza.startsWith('<message')) return stanza;
    }
  }

  private async connectTransport(): Promise<void> {
    const { webSocketUrl, host, port } = this.options;
    this.transport = webSocketUrl
      ? await WebSocketTransport.connect(webSocketUrl, this.events)
      : await TcpTransport.connect(host, port, this.events);
  }

  /** Open a stream and return its features, upgrading to TLS first when on TCP. */
  private async openSecuredStream(): Promise<{ features: string; tlsDoneAt: number }> {
    const transport = this.transport!;
    transport.openStream(this.options.domain);
    let features = await this.nextRelevant();
    if (!this.options.webSocketUrl && !this.options.plainTcp) {
      if (!features.includes('urn:ietf:params:xml:ns:xmpp-tls')) throw new Error('server offers no STARTTLS');
      transport.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`);
      const proceed = await this.nextRelevant();
      if (!proceed.startsWith('<proceed')) throw new Error(`STARTTLS refused: ${proceed}`);
      await transport.startTls(this.options.domain);
      transport.openStream(this.options.domain);
      features = await this.nextRelevant();
    }
    return { features, tlsDoneAt: performance.now() };
  }

  private withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }

  /** Full login: connect, STARTTLS, SCRAM-SHA-1, bind, roster get, initial presence. */
  login(): Promise<LoginTimings> {
    return this.withTimeout(this.runLogin(), `login of ${this.options.username}`).catch((error: Error) => {
      this.destroy();
      throw error;
    });
  }

  private async runLogin(): Promise<LoginTimings> {
    const started = performance.now();
    await this.connectTransport();
    const connectedAt = performance.now();
    const { features, tlsDoneAt } = await this.openSecuredStream();
    if (!features.includes('SCRAM-SHA-1')) throw new Error(`server offers no SCRAM-SHA-1: ${features}`);

    const scram = new ScramSha1Client(this.options.username, this.options.password);
    this.transport!.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>${scram.start()}</auth>`);
    const challenge = await this.nextRelevant();
    if (!challenge.startsWith('<challenge')) throw new Error(`SASL failed: ${challenge}`);
    const response = await scram.respond(challenge.slice(challenge.indexOf('>') + 1, challenge.lastIndexOf('<')));
    this.transport!.send(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${response}</response>`);
    const outcome = await this.nextRelevant();
    if (!outcome.startsWith('<success')) throw new Error(`SASL failed: ${outcome}`);
    const serverFinal = outcome.endsWith('/>') ? '' : outcome.slice(outcome.indexOf('>') + 1, outcome.lastIndexOf('<'));
    if (serverFinal && !scram.verify(serverFinal)) throw new Error('SCRAM server signature mismatch');
    const authedAt = performance.now();

    this.transport!.openStream(this.options.domain);
    const boundFeatures = await this.nextRelevant();
    this.transport!.send(
      `<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${escapeXml(this.options.resource)}</resource></bind></iq>`,
    );
    const bound = await this.nextRelevant();
    if (attribute(bound, 'type') !== 'result') throw new Error(`bind failed: ${bound}`);
    this.jid = childText(bound, 'jid') ?? '';
    if (boundFeatures.includes('urn:ietf:params:xml:ns:xmpp-session') && !/<optional\s*\/>/.test(boundFeatures)) {
      this.transport!.send(`<iq type='set' id='sess'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`);
      await this.nextRelevant();
    }
    this.transport!.send(`<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>`);
    const roster = await this.nextRelevant();
    if (attribute(roster, 'type') !== 'result') throw new Error(`roster get failed: ${roster}`);
    this.transport!.send('<presence/>');
    this.loggedIn = true;
    for (const queued of this.inbox.splice(0)) this.dispatch(queued);
    const finished = performance.now();
    return { totalMs: finished - started, connectMs: connectedAt - started, tlsMs: tlsDoneAt - connectedAt, authMs: authedAt - tlsDoneAt };
  }

  /** XEP-0077 in-band registration; resolves 'exists' on conflict so provisioning is idempotent. */
  register(): Promise<'created' | 'exists'> {
    const work = (async () => {
      await this.connectTransport();
      await this.openSecuredStream();
      const { username, password } = this.options;
      this.transport!.send(
        `<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>${escapeXml(username)}</username><password>${escapeXml(password)}</password></query></iq>`,
      );
      const reply = await this.nextRelevant();
      if (attribute(reply, 'type') === 'result') return 'created' as const;
      if (reply.includes('conflict')) return 'exists' as const;
      throw new Error(`registration of ${username} failed: ${reply.slice(0, 300)}`);
    })();
    return this.withTimeout(work, `registration of ${this.options.username}`).finally(() => this.close());
  }

  send(data: string): void {
    this.transport?.send(data);
  }

  /** Send an IQ built by `build(id)`; resolves with the reply stanza (type='result' or 'error'). */
  iq(build: (id: string) => string): Promise<string> {
    const id = `q${this.nextIqId++}`;
    return new Promise((resolve) => {
      if (this.failure) return resolve(`<iq type='error'><closed/></iq>`);
      this.pendingIqs.set(id, resolve);
      this.transport!.send(build(id));
    });
  }

  close(): void {
    if (this.closedByUs) return;
    this.closedByUs = true;
    this.failure ??= new Error('closed by client');
    this.transport?.close();
  }

  private destroy(): void {
    this.close();
  }
}
