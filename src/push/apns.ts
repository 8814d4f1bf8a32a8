/**
 * Delivery to Apple Push Notification service through @parse/node-apn with
 * token (.p8) authentication. node-apn keeps one HTTP/2 session per provider
 * and signs/refreshes the ES256 provider JWT itself.
 *
 * node-apn's own retry loop is switched off (connectionRetryLimit 0): the
 * PushDispatcher owns retries so backoff and counters live in one place.
 */
import apn from '@parse/node-apn';
import type { ApnsAppConfig, PushNotification, PushProvider, PushResult } from './types.js';
import { carriedMessageId, visibleContent } from './content.js';

/** apns-collapse-id is limited to 64 bytes by Apple. */
const MAX_COLLAPSE_ID_BYTES = 64;

/** The part of a node-apn failure entry we look at. */
interface ApnsFailure {
  status?: number | string;
  response?: { reason?: string };
  error?: Error;
}

export function buildApnsNotification(app: ApnsAppConfig, n: PushNotification): apn.Notification {
  const content = visibleContent(n, app.privacy);
  const note = new apn.Notification();
  note.topic = app.bundleId;
  note.pushType = 'alert';
  note.priority = 10;
  note.expiry = Math.floor(Date.now() / 1000) + app.ttlSeconds;
  note.alert = content.title === undefined ? content.body : { title: content.title, body: content.body };
  note.sound = 'default';
  // Lets a Notification Service Extension replace the generic alert after fetching the message itself.
  note.mutableContent = true;
  if (content.badge !== undefined) note.badge = content.badge;
  if (content.sender !== undefined) note.threadId = content.sender;
  if (Buffer.byteLength(n.messageId) <= MAX_COLLAPSE_ID_BYTES) note.collapseId = n.messageId;
  note.payload = {
    sori: {
      ...(carriedMessageId(n.messageId) !== undefined && { 'message-id': n.messageId }),
      ...(content.count !== undefined && { count: content.count }),
      ...(content.sender !== undefined && { sender: content.sender }),
      ...(content.text !== undefined && { body: content.text }),
    },
  };
  return note;
}

/** Maps one node-apn failure to a PushResult, following Apple's documented status codes. */
export function classifyApnsFailure(failure: ApnsFailure): PushResult {
  const status = failure.status === undefined ? undefined : Number(failure.status);
  const reason = failure.response?.reason ?? failure.error?.message ?? `status ${String(failure.status)}`;
  if (status === 410) return { status: 'invalid-token', reason };
  if (status === 400 && reason === 'BadDeviceToken') return { status: 'invalid-token', reason };
  // No status: connection refused/reset, timeout, or GOAWAY before a response.
  if (status === undefined || Number.isNaN(status)) return { status: 'failed-transient', reason };
  if (status === 429 || status >= 500) return { status: 'failed-transient', reason };
  // 403 ExpiredProviderToken: node-apn has regenerated the JWT, the next attempt uses it.
  if (status === 403 && reason === 'ExpiredProviderToken') return { status: 'failed-transient', reason };
  return { status: 'failed-permanent', reason };
}

export class ApnsProvider implements PushProvider {
  readonly name: string;
  private readonly apnsProvider: apn.Provider;
  private closed = false;

  constructor(private readonly app: ApnsAppConfig) {
    this.name = `apns:${app.id}`;
    this.apnsProvider = new apn.Provider({
      token: { key: app.keyFile, keyId: app.keyId, teamId: app.teamId },
      production: app.production,
      ...(app.address !== undefined && { address: app.address }),
      ...(app.port !== undefined && { port: app.port }),
      ...(app.ca !== undefined && { ca: [app.ca] }),
      connectionRetryLimit: 0,
      requestTimeout: app.requestTimeoutMs,
    });
  }

  async send(n: PushNotification): Promise<PushResult> {
    if (this.closed) return { status: 'failed-permanent', reason: 'provider closed' };
    try {
      const { sent, failed } = await this.apnsProvider.send(buildApnsNotification(this.app, n), n.token);
      if (sent.length > 0) return { status: 'delivered', id: (sent[0] as { 'apns-id'?: string })['apns-id'] };
      return classifyApnsFailure(failed[0] ?? {});
    } catch (err) {
      return { status: 'failed-transient', reason: err instanceof Error ? err.message : String(err) };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.apnsProvider.shutdown();
  }
}
