/**
 * What a push shows, decided once for both services so APNs and FCM apply
 * the same privacy rules. Anything not allowed by the app's privacy never
 * leaves this function.
 */
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

export function visibleContent(n: PushNotification, privacy: PushPrivacy): VisibleContent {
  const sender = privacy.includeSender ? n.sender : undefined;
  const text = privacy.includeBody ? n.body : undefined;
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
