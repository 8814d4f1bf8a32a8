import { MemorySessionStore, MemorySessionTable } from './memory-session-table.js';
import { sessionTableContract } from './session-table.contract.js';

let store = new MemorySessionStore();

sessionTableContract('memory', () => ({
  async create(nodeId) {
    const table = new MemorySessionTable({ nodeId, store });
    await table.start();
    return table;
  },
  async reset() {
    store = new MemorySessionStore();
  },
}));
