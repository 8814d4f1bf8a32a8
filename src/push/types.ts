/**
 * Types of sori's own push delivery (XEP-0357 "app server" role): what one
 * notification carries, what a delivery attempt can end in, and how each
 * push app (an APNs bundle or an FCM project) is configured.
 *
 * This layer knows nothing of XMPP; the XEP-0357 module decides when to push
 * and hands a PushNotification to the PushDispatcher.
 */

/** One push for one device registration. */
export interface PushNotification {
  /** Device token from the registration (APNs hex token or FCM registration token). */
  token: string;
  /** Stable id of the message that caused the push; used as collapse/dedup key. */
  messageId: string;
  /** Number of messages waiting for the user (XEP-0357 `message-count`). */
  count: number;
  /** Bare JID of the sender; only shown when the app's privacy allows it. */
  sender?: string;
  /** Message text; only shown when the app's privacy allows it. */
  body?: string;
  /** Explicit badge; defaults to `count` when counts are enabled. */
  badge?: number;
}

/**
 * Outcome of one delivery attempt. `invalid-token` means the push service has
 * forgotten the device: the owner must remove the registration.
 */
export type PushResult =
  | { status: 'delivered'; id?: string }
  | { status: 'invalid-token'; reason: string }
  | { status: 'failed-transient'; reason: string }
  | { status: 'failed-permanent'; reason: string };

export type PushStatus = PushResult['status'];

/** A connection to one push service for one app. `send` never rejects: errors become results. */
export interface PushProvider {
  readonly name: string;
  send(notification: PushNotification): Promise<PushResult>;
  /** Closes connections so the process can exit; sends after close fail permanently. */
  close(): Promise<void>;
}

/** What a push may reveal to Apple/Google and to the lock screen. */
export interface PushPrivacy {
  /** Put the message text in the push (default false: a generic alert is shown). */
  includeBody: boolean;
  /** Put the sender's bare JID in the push (default false). */
  includeSender: boolean;
  /** Put the pending message count / badge in the push (default true). */
  includeCount: boolean;
  /** Alert text used when the body is not included. */
  genericAlert: string;
}

interface PushAppCommon {
  /** Name the XEP-0357 module uses to pick this app (e.g. from the registration's node). */
  id: string;
  privacy: PushPrivacy;
  /** How long the push service should keep an undelivered push. */
  ttlSeconds: number;
}

export interface ApnsAppConfig extends PushAppCommon {
  type: 'apns';
  /** App bundle id, sent as `apns-topic`. */
  bundleId: string;
  /** Token-auth signing key (.p8 file path, or the PEM text itself). */
  keyFile: string;
  keyId: string;
  teamId: string;
  /** true: api.push.apple.com, false: api.sandbox.push.apple.com. */
  production: boolean;
  /** Override of the APNs host (a relay, or a test server). */
  address?: string;
  port?: number;
  /** Extra CA (PEM path or text) to trust for `address`. */
  ca?: string;
  /** Per-request timeout inside node-apn. */
  requestTimeoutMs: number;
}

export interface FcmEndpoint {
  host: string;
  port: number;
  /** CA (PEM text) to trust for this endpoint; system roots when absent. */
  ca?: string;
}

export interface FcmAppConfig extends PushAppCommon {
  type: 'fcm';
  projectId: string;
  /** Service account JSON; Application Default Credentials when absent. */
  serviceAccountFile?: string;
  /**
   * false (default): data-only message, the app wakes up and fetches the message itself.
   * true: also a visible `notification` block rendered per privacy.
   */
  notification: boolean;
  /** Merged into the message's `apns` block for iOS devices reached through FCM. */
  apns?: { headers?: Record<string, string>; payload?: Record<string, unknown> };
  /** Override of fcm.googleapis.com (a relay, or a test server). */
  endpoint?: FcmEndpoint;
}

export type PushAppConfig = ApnsAppConfig | FcmAppConfig;
