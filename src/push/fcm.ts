/**
 * Delivery to Firebase Cloud Messaging (HTTP v1) through firebase-admin.
 * Each FCM app gets its own firebase-admin App so several projects can live
 * in one process, and its own https.Agent so close() can drop its sockets.
 *
 * Note: firebase-admin retries 503 / ECONNRESET / ETIMEDOUT itself (up to 4
 * times, with backoff) and this cannot be configured; the dispatcher's own
 * per-attempt timeout bounds how long such a send can hold a slot.
 */
import https from 'node:https';
import tls from 'node:tls';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { applicationDefault, cert, deleteApp, initializeApp, type App, type Credential } from 'firebase-admin/app';
import { getMessaging, type Message, type Messaging } from 'firebase-admin/messaging';
import type { FcmAppConfig, FcmEndpoint, PushNotification, PushProvider, PushResult } from './types.js';
import { carriedMessageId, visibleContent } from './content.js';

export interface FcmProviderDeps {
  /** OAuth2 credential; defaults to the service account file or Application Default Credentials. */
  credential?: Credential;
}

/** firebase-admin error codes (FirebaseError.code) that mean the registration is gone. */
const INVALID_TOKEN_CODES = new Set([
  'messaging/registration-token-not-registered', // UNREGISTERED, NOT_FOUND
  'messaging/invalid-registration-token',
]);

/**
 * INVALID_ARGUMENT is FCM's answer both to a malformed token and to a bad
 * message ("Android message is too big": a sender controls the message id, an
 * operator the apns block); only the text tells them apart. Guessing "bad
 * token" would let one odd message delete a working registration.
 */
const INVALID_ARGUMENT = 'messaging/invalid-argument';
const BAD_TOKEN_TEXT = /registration token/i;

const TRANSIENT_CODES = new Set([
  'messaging/server-unavailable', // UNAVAILABLE, 503
  'messaging/internal-error', // INTERNAL, 500
  'messaging/message-rate-exceeded', // QUOTA_EXCEEDED, 429
  'messaging/device-message-rate-exceeded',
  'app/network-error',
  'app/network-timeout',
]);

export function classifyFcmError(err: unknown): PushResult {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  const reason = code || (err instanceof Error ? err.message : String(err));
  if (INVALID_TOKEN_CODES.has(code)) return { status: 'invalid-token', reason };
  if (code === INVALID_ARGUMENT && err instanceof Error && BAD_TOKEN_TEXT.test(err.message)) return { status: 'invalid-token', reason };
  if (TRANSIENT_CODES.has(code)) return { status: 'failed-transient', reason };
  return { status: 'failed-permanent', reason };
}

export function buildFcmMessage(app: FcmAppConfig, n: PushNotification): Message {
  const content = visibleContent(n, app.privacy);
  // FCM data values must be strings.
  const messageId = carriedMessageId(n.messageId);
  const data: Record<string, string> = messageId === undefined ? {} : { 'message-id': messageId };
  if (content.count !== undefined) data.count = String(content.count);
  if (content.sender !== undefined) data.sender = content.sender;
  if (content.text !== undefined) data.body = content.text;
  const visible = app.notification ? { title: content.title, body: content.body } : undefined;
  const aps = {
    mutableContent: true,
    ...(visible ? { alert: visible, sound: 'default' } : { contentAvailable: true }),
    ...(content.badge !== undefined && { badge: content.badge }),
  };
  return {
    token: n.token,
    data,
    ...(visible && { notification: visible }),
    android: { priority: 'high', ttl: app.ttlSeconds * 1000, ...(messageId !== undefined && { collapseKey: messageId }) },
    apns: {
      headers: { 'apns-priority': visible ? '10' : '5', ...app.apns?.headers },
      payload: { aps, ...app.apns?.payload },
    },
  };
}

/**
 * An agent that sends every connection to `endpoint` instead of the host in
 * the URL (firebase-admin hard-codes fcm.googleapis.com), verifying the
 * endpoint's certificate against `endpoint.host`.
 */
class EndpointAgent extends https.Agent {
  constructor(private readonly endpoint: FcmEndpoint) {
    super({ keepAlive: true });
  }

  override createConnection(options: tls.ConnectionOptions): Duplex {
    const { host, port, ca } = this.endpoint;
    // SNI may not carry an IP address; without servername tls verifies against `host`.
    const servername = isIP(host) ? undefined : host;
    return tls.connect({ ...options, host, port, servername, ...(ca && { ca }) });
  }
}

export class FcmProvider implements PushProvider {
  readonly name: string;
  private readonly firebaseApp: App;
  private readonly messaging: Messaging;
  private readonly agent: https.Agent;
  private closed = false;

  constructor(private readonly app: FcmAppConfig, deps: FcmProviderDeps = {}) {
    this.name = `fcm:${app.id}`;
    this.agent = app.endpoint ? new EndpointAgent(app.endpoint) : new https.Agent({ keepAlive: true });
    const credential =
      deps.credential ??
      (app.serviceAccountFile ? cert(app.serviceAccountFile, this.agent) : applicationDefault(this.agent));
    // App names must be unique per process; the app id already is.
    this.firebaseApp = initializeApp({ credential, projectId: app.projectId, httpAgent: this.agent }, `sori-push-${app.id}`);
    this.messaging = getMessaging(this.firebaseApp);
  }

  async send(n: PushNotification): Promise<PushResult> {
    if (this.closed) return { status: 'failed-permanent', reason: 'provider closed' };
    try {
      const id = await this.messaging.send(buildFcmMessage(this.app, n));
      return { status: 'delivered', id };
    } catch (err) {
      return classifyFcmError(err);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.agent.destroy();
    await deleteApp(this.firebaseApp);
  }
}
