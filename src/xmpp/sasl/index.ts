import type { SaslContext, SaslMechanism } from './mechanism.js';
import { PlainServer } from './plain.js';
import { ScramServer } from './scram.js';

export { SaslFailure, type SaslContext, type SaslMechanism, type SaslStep, type SaslCondition } from './mechanism.js';

/** Strongest first: clients generally take the first they support. */
const ORDER = ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] as const;
export type MechanismName = (typeof ORDER)[number];

/**
 * Mechanisms to offer on a stream: -PLUS only with channel binding, PLAIN
 * only on encrypted streams, and only PLAIN when the server keeps no
 * passwords (`auth.passwords` false: logins are tokens, which SCRAM cannot carry).
 */
export function offeredMechanisms(secure: boolean, channelBindingTypes: readonly string[], passwords = true): MechanismName[] {
  if (!passwords) return secure ? ['PLAIN'] : [];
  return ORDER.filter((m) => (m.endsWith('-PLUS') ? channelBindingTypes.length > 0 : m === 'PLAIN' ? secure : true));
}

export function createMechanism(name: string, ctx: SaslContext): SaslMechanism | null {
  switch (name) {
    case 'SCRAM-SHA-256-PLUS':
      return new ScramServer('SHA-256', true, ctx);
    case 'SCRAM-SHA-1-PLUS':
      return new ScramServer('SHA-1', true, ctx);
    case 'SCRAM-SHA-256':
      return new ScramServer('SHA-256', false, ctx);
    case 'SCRAM-SHA-1':
      return new ScramServer('SHA-1', false, ctx);
    case 'PLAIN':
      return new PlainServer(ctx);
    default:
      return null;
  }
}
