/**
 * Entry point of sori's push delivery: build providers from app configs and
 * hand them to a PushDispatcher. The XEP-0357 module only needs this file.
 *
 * The provider libraries (@parse/node-apn, firebase-admin and what they pull
 * in: ~150 modules, several MB of heap that every full GC marks) are loaded
 * only when an app of their kind is configured.
 */
import type { FcmProviderDeps } from './fcm.js';
import type { PushAppConfig, PushProvider } from './types.js';

export * from './types.js';
export { PushDispatcher, PUSH_DISPATCHER_OPTIONS } from './dispatcher.js';
export type { PushCounters, PushDispatcherHooks, PushDispatcherOptions } from './dispatcher.js';
export { parsePushApps, PUSH_PRIVACY_OPTIONS, APNS_APP_OPTIONS, FCM_APP_OPTIONS } from './config.js';

export async function createPushProvider(app: PushAppConfig, fcmDeps: FcmProviderDeps = {}): Promise<PushProvider> {
  if (app.type === 'apns') {
    const { ApnsProvider } = await import('./apns.js');
    return new ApnsProvider(app);
  }
  const { FcmProvider } = await import('./fcm.js');
  return new FcmProvider(app, fcmDeps);
}

/** One provider per app id, ready for `new PushDispatcher(...)`. */
export async function createPushProviders(apps: readonly PushAppConfig[], fcmDeps: FcmProviderDeps = {}): Promise<Map<string, PushProvider>> {
  return new Map(await Promise.all(apps.map(async (app) => [app.id, await createPushProvider(app, fcmDeps)] as const)));
}
