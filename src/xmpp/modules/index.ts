import type { ModuleDefinition } from '../module.js';
import ping from './xep-0199-ping/index.js';
import roster from './rfc6121-roster/index.js';
import presence from './rfc6121-presence/index.js';
import register from './xep-0077-register/index.js';

/**
 * Every module sori ships, for the composition root. Order does not matter:
 * the loader orders them by their declared dependencies.
 */
export const ALL_MODULES: ModuleDefinition[] = [roster, presence, ping, register];
