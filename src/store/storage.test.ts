// Runs the Storage contract against every backend: memory twin, in-memory PGlite, and PostgreSQL (TEST_DATABASE_URL).
import { storageContract } from './storage.contract.js';
import { forEachStorage } from './test-storages.js';

describe('Storage contract', () => {
  forEachStorage((name, ctx) => storageContract(name, ctx));
});
