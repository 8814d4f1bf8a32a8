/**
 * What a push shows, decided once for both services so APNs and FCM apply
 * the same privacy rules. Anything not allowed by the app's privacy never
 * leaves this function.
 */
import { cutUtf8 } from '../util/utf8.js';
import type { PushNotification, PushPrivacy } from './types.js';

export interface VisibleContent {
  /** Sender JID when allowed; used as alert title. */
  title?: string;
  /** Message text when allowed, else the generic alert. */
  body: string;
  badge?: number;
  /** Sender JID when allowed (custom/data payload). */
  sender?: string;
  /** Message text when allowed (custom/data payload). */
  text?: string;
  count?: number;
}

/**
 * Most UTF-8 bytes of message text in one push. APNs and FCM both refuse
 * payloads over 4 KB, and the text goes in twice (the alert and the data the
 * app reads); FCM answers an oversized message with INVALID_ARGUMENT, which
 * reads like a bad token.
 */
export const MAX_TEXT_BYTES = 1000;

/**
 * Longest message id passed to the app. The sender picks the id, and a few
 * kilobytes of it would push the payload over APNs' and FCM's 4 KB, so the
 * recipient's phone would get no push at all for that message. Real ids
 * (UUIDs, XEP-0359 stanza ids) are under 100 bytes.
 */
export const MAX_MESSAGE_ID_BYTES = 256;

/** The message id for the app's payload, or undefined when a sender made it too long to carry. */
export function carriedMessageId(messageId: string): string | undefined {
  return Buffer.byteLength(messageId) <= MAX_MESSAGE_ID_BYTES ? messageId : undefined;
}

/** `text` cut to at most `maxBytes` of UTF-8, on a character boundary, with an ellipsis when cut. */
export function truncateUtf8(text: string, maxBytes: number): string {
  return Buffer.byteLength(text) <= maxBytes ? text : `${cutUtf8(text, maxBytes - 3)}…`;
}

export function visibleContent(n: PushNotification, privacy: PushPrivacy): VisibleContent {
  const sender = privacy.includeSender ? n.sender : undefined;
  const text = privacy.includeBody && n.body !== undefined ? truncateUtf8(n.body, MAX_TEXT_BYTES) : undefined;
  const count = privacy.includeCount ? n.count : undefined;
  return {
    title: sender,
    body: text ?? privacy.genericAlert,
    badge: privacy.includeCount ? (n.badge ?? n.count) : undefined,
    sender,
    text,
    count,
  };
}
