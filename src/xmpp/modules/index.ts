import type { ModuleDefinition } from '../module.js';
import ping from './xep-0199-ping/index.js';

/**
 * Every module sori ships, for the composition root. Order does not matter:
 * the loader orders them by their declared dependencies.
 */
export const ALL_MODULES: ModuleDefinition[] = [ping];
