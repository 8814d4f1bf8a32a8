/**
 * Entry point of sori's push delivery: build providers from app configs and
 * hand them to a PushDispatcher. The XEP-0357 module only needs this file.
 */
import { ApnsProvider } from './apns.js';
import { FcmProvider, type FcmProviderDeps } from './fcm.js';
import type { PushAppConfig, PushProvider } from './types.js';

export * from './types.js';
export { PushDispatcher, PUSH_DISPATCHER_OPTIONS } from './dispatcher.js';
export type { PushCounters, PushDispatcherHooks, PushDispatcherOptions } from './dispatcher.js';
export { parsePushApps, PUSH_PRIVACY_OPTIONS, APNS_APP_OPTIONS, FCM_APP_OPTIONS } from './config.js';

export function createPushProvider(app: PushAppConfig, fcmDeps: FcmProviderDeps = {}): PushProvider {
  return app.type === 'apns' ? new ApnsProvider(app) : new FcmProvider(app, fcmDeps);
}

/** One provider per app id, ready for `new PushDispatcher(...)`. */
export function createPushProviders(apps: readonly PushAppConfig[], fcmDeps: FcmProviderDeps = {}): Map<string, PushProvider> {
  return new Map(apps.map((app) => [app.id, createPushProvider(app, fcmDeps)]));
}
