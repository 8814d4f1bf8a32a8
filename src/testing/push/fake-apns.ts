/**
 * A fake Apple Push Notification service: an HTTP/2 TLS server speaking the
 * provider API (`POST /3/device/<token>`) closely enough for node-apn.
 * It checks the provider JWT (ES256, kid, iss; signature when the key is
 * known), the topic and the token, answers like Apple does, and records
 * every request.
 */
import http2 from 'node:http2';
import { randomUUID, verify } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { PushServiceScript } from './script.js';

export interface FakeApnsRequest {
  token: string;
  headers: Record<string, string>;
  payload: Record<string, unknown>;
  jwt: { header: Record<string, unknown>; claims: Record<string, unknown> };
}

export interface FakeApnsOptions {
  key: string;
  cert: string;
  /** Public keys by key id; when given, JWT signatures are verified. */
  providerKeys?: Record<string, string>;
  /** Allowed apns-topic values; any topic when absent. */
  topics?: string[];
}

const DEVICE_PATH = /^\/3\/device\/([^/]+)$/;
const APNS_TOKEN = /^[0-9a-fA-F]{64,200}$/;
const MAX_PAYLOAD_BYTES = 4096;

type Reply = { status: number; reason?: string };

function decodeSegment(segment: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export class FakeApns {
  readonly script = new PushServiceScript<FakeApnsRequest>();
  private readonly server: http2.Http2SecureServer;
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  private constructor(private readonly options: FakeApnsOptions) {
    this.server = http2.createSecureServer({ key: options.key, cert: options.cert });
    this.server.on('session', (session) => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
    });
    this.server.on('stream', (stream, headers) => this.onStream(stream, headers));
  }

  static async start(options: FakeApnsOptions): Promise<FakeApns> {
    const fake = new FakeApns(options);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get requests(): FakeApnsRequest[] {
    return this.script.requests;
  }

  /** Stops listening and drops open connections (including hung requests). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const session of this.sessions) session.destroy();
    await closed;
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      const reply = this.handle(headers, body);
      if (reply === 'hang') return;
      const apnsId = typeof headers['apns-id'] === 'string' ? headers['apns-id'] : randomUUID();
      stream.respond({ ':status': reply.status, 'apns-id': apnsId, 'content-type': 'application/json' });
      stream.end(reply.reason === undefined ? undefined : JSON.stringify({ reason: reply.reason, timestamp: Date.now() }));
    });
    // A client giving up on a hung request resets the stream; nothing to answer then.
    stream.on('error', () => undefined);
  }

  private handle(headers: http2.IncomingHttpHeaders, body: Buffer): Reply | 'hang' {
    const path = String(headers[':path'] ?? '');
    const match = DEVICE_PATH.exec(path);
    if (headers[':method'] !== 'POST') return { status: 405, reason: 'MethodNotAllowed' };
    if (!match) return { status: 404, reason: 'BadPath' };
    const token = match[1]!;
    const auth = this.checkJwt(headers.authorization);
    if ('reason' in auth) return { status: 403, reason: auth.reason };
    let payload: Record<string, unknown>;
    try {
      payload = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return { status: 400, reason: 'PayloadEmpty' };
    }
    const flatHeaders: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) if (typeof value === 'string') flatHeaders[name] = value;
    const scripted = this.script.record({ token, headers: flatHeaders, payload, jwt: auth });
    if (scripted === 'hang') return 'hang';
    if (scripted === 'unavailable') return { status: 503, reason: 'ServiceUnavailable' };
    if (scripted === 'internal') return { status: 500, reason: 'InternalServerError' };
    const topic = headers['apns-topic'];
    if (typeof topic !== 'string') return { status: 400, reason: 'MissingTopic' };
    if (this.options.topics && !this.options.topics.includes(topic)) return { status: 400, reason: 'TopicDisallowed' };
    if (body.length > MAX_PAYLOAD_BYTES) return { status: 413, reason: 'PayloadTooLarge' };
    if (!APNS_TOKEN.test(token)) return { status: 400, reason: 'BadDeviceToken' };
    if (this.script.isDead(token)) return { status: 410, reason: 'Unregistered' };
    return { status: 200 };
  }

  /** Checks `authorization: bearer <jwt>` the way Apple documents it. */
  private checkJwt(authorization: string | undefined): FakeApnsRequest['jwt'] | { reason: string } {
    const bearer = /^bearer (.+)$/i.exec(authorization ?? '');
    if (!bearer) return { reason: 'MissingProviderToken' };
    const parts = bearer[1]!.split('.');
    if (parts.length !== 3) return { reason: 'InvalidProviderToken' };
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = decodeSegment(parts[0]!);
      claims = decodeSegment(parts[1]!);
    } catch {
      return { reason: 'InvalidProviderToken' };
    }
    if (header.alg !== 'ES256' || typeof header.kid !== 'string') return { reason: 'InvalidProviderToken' };
    if (typeof claims.iss !== 'string' || typeof claims.iat !== 'number') return { reason: 'InvalidProviderToken' };
    const keys = this.options.providerKeys;
    if (keys) {
      const publicKey = keys[header.kid];
      if (publicKey === undefined) return { reason: 'InvalidProviderToken' };
      const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
      const signature = Buffer.from(parts[2]!, 'base64url');
      if (!verify('sha256', signed, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)) {
        return { reason: 'InvalidProviderToken' };
      }
    }
    return { header, claims };
  }
}
