/**
 * Mocha root hooks (loaded through `require` in .mocharc.json): services that
 * tests started once per run are stopped when the run ends. The process
 * 'exit' handler in child-process.ts is the backstop for aborted runs.
 */
import { stopAllServices } from './child-process.js';

export const mochaHooks = {
  async afterAll(this: { timeout(ms: number): void }): Promise<void> {
    this.timeout(30_000);
    await stopAllServices();
  },
};
