import { runStoreContract } from '../contract.js';
import { StoreUnavailableError } from '../wide-column.js';
import { MemoryStore } from './index.js';

runStoreContract('memory', {
  open: async () => new MemoryStore(),
  unreachable: async () => {
    const store = new MemoryStore();
    store.failing = new StoreUnavailableError('simulated outage');
    return store;
  },
});
