/**
 * Declared options of push apps (rule 6: every option has a validator, a
 * default and a doc line; docs/push.md's tables come from these specs).
 * `parsePushApps` turns the `push.apps` list of the config file into typed
 * PushAppConfig values, failing at startup with the key that is wrong.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, resolveOptions, type OptionSpecs, type OptionValues } from '../util/options.js';
import type { ApnsAppConfig, FcmAppConfig, PushAppConfig, PushPrivacy } from './types.js';

export const PUSH_PRIVACY_OPTIONS = {
  includeBody: { type: 'boolean', default: false, doc: 'Send the message text to Apple/Google and show it on the lock screen.' },
  includeSender: { type: 'boolean', default: false, doc: "Send the sender's bare JID (alert title, thread id)." },
  includeCount: { type: 'boolean', default: true, doc: 'Send the pending message count (badge).' },
  genericAlert: { type: 'string', default: 'New message', doc: 'Alert text used when the body is not sent.' },
} satisfies OptionSpecs;

const COMMON_APP_OPTIONS = {
  id: { type: 'optional-string', doc: 'Name of the app; the XEP-0357 module selects apps by this id. Required.' },
  type: { type: 'string', default: '', enum: ['apns', 'fcm'], doc: 'Push service: "apns" or "fcm". Required.' },
  ttlSeconds: { type: 'number', default: 86_400, min: 0, integer: true, doc: 'How long the service keeps an undelivered push.' },
  privacy: { type: 'record', default: {}, doc: 'What a push may reveal; see the privacy table.' },
} satisfies OptionSpecs;

export const APNS_APP_OPTIONS = {
  ...COMMON_APP_OPTIONS,
  bundleId: { type: 'optional-string', doc: 'App bundle id, sent as apns-topic. Required.' },
  keyFile: { type: 'optional-string', doc: 'Path of the AuthKey_XXXXXXXXXX.p8 token signing key. Required.' },
  keyId: { type: 'optional-string', doc: 'Key ID of the .p8 key (10 characters). Required.' },
  teamId: { type: 'optional-string', doc: 'Apple developer Team ID. Required.' },
  production: { type: 'boolean', default: false, doc: 'true: production APNs; false: sandbox (development builds).' },
  address: { type: 'optional-string', doc: 'Override of the APNs host (relay or test server).' },
  port: { type: 'number', default: 443, min: 1, max: 65535, integer: true, doc: 'Port of the APNs host.' },
  ca: { type: 'optional-string', doc: 'Path of an extra CA certificate (PEM) to trust for `address`.' },
  requestTimeoutMs: { type: 'number', default: 5000, min: 1, doc: 'Per-request timeout inside node-apn.' },
} satisfies OptionSpecs;

export const FCM_APP_OPTIONS = {
  ...COMMON_APP_OPTIONS,
  projectId: { type: 'optional-string', doc: 'Firebase project id. Required.' },
  serviceAccountFile: { type: 'optional-string', doc: 'Service account JSON; Application Default Credentials when absent.' },
  notification: { type: 'boolean', default: false, doc: 'Add a visible notification block; false sends data-only messages.' },
  apns: { type: 'record', default: {}, doc: 'Merged into the FCM message `apns` block ({headers, payload}) for iOS devices.' },
  endpointHost: { type: 'optional-string', doc: 'Override of fcm.googleapis.com (relay or test server).' },
  endpointPort: { type: 'number', default: 443, min: 1, max: 65535, integer: true, doc: 'Port of endpointHost.' },
  endpointCa: { type: 'optional-string', doc: 'Path of an extra CA certificate (PEM) to trust for endpointHost.' },
} satisfies OptionSpecs;

function required<T extends Record<string, unknown>, K extends keyof T & string>(values: T, keys: K[], path: string): void {
  for (const key of keys) {
    if (values[key] === undefined || values[key] === '') throw new ConfigError(`${path}.${key}: required`);
  }
}

function parseCommon(values: OptionValues<typeof COMMON_APP_OPTIONS>, path: string): { id: string; ttlSeconds: number; privacy: PushPrivacy } {
  required(values, ['id', 'type'], path);
  return {
    id: values.id!,
    ttlSeconds: values.ttlSeconds,
    privacy: resolveOptions(PUSH_PRIVACY_OPTIONS, values.privacy, `${path}.privacy`),
  };
}

function parseApns(raw: Record<string, unknown>, path: string): ApnsAppConfig {
  const v = resolveOptions(APNS_APP_OPTIONS, raw, path);
  required(v, ['bundleId', 'keyFile', 'keyId', 'teamId'], path);
  return {
    ...parseCommon(v, path),
    type: 'apns',
    bundleId: v.bundleId!,
    keyFile: v.keyFile!,
    keyId: v.keyId!,
    teamId: v.teamId!,
    production: v.production,
    address: v.address,
    port: v.address === undefined ? undefined : v.port,
    ca: v.ca,
    requestTimeoutMs: v.requestTimeoutMs,
  };
}

function parseFcm(raw: Record<string, unknown>, path: string): FcmAppConfig {
  const v = resolveOptions(FCM_APP_OPTIONS, raw, path);
  required(v, ['projectId'], path);
  return {
    ...parseCommon(v, path),
    type: 'fcm',
    projectId: v.projectId!,
    serviceAccountFile: v.serviceAccountFile,
    notification: v.notification,
    apns: v.apns as FcmAppConfig['apns'],
    endpoint:
      v.endpointHost === undefined
        ? undefined
        : { host: v.endpointHost, port: v.endpointPort, ca: v.endpointCa === undefined ? undefined : readFileSync(v.endpointCa, 'utf8') },
  };
}

/** Validates the `push.apps` list; ids must be unique. */
export function parsePushApps(input: unknown, path = 'push.apps'): PushAppConfig[] {
  if (!Array.isArray(input)) throw new ConfigError(`${path}: expected a list of apps`);
  const apps = input.map((raw: unknown, i): PushAppConfig => {
    const at = `${path}[${i}]`;
    if (typeof raw !== 'object' || raw === null) throw new ConfigError(`${at}: expected an object`);
    const entry = raw as Record<string, unknown>;
    if (entry.type === 'apns') return parseApns(entry, at);
    if (entry.type === 'fcm') return parseFcm(entry, at);
    throw new ConfigError(`${at}.type: got ${JSON.stringify(entry.type)}, expected "apns" or "fcm"`);
  });
  const seen = new Set<string>();
  for (const app of apps) {
    if (seen.has(app.id)) throw new ConfigError(`${path}: duplicate app id "${app.id}"`);
    seen.add(app.id);
  }
  return apps;
}
