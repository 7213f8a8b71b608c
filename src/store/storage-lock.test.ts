// Runs the Storage.lock contract against every backend: memory twin, in-memory PGlite, and PostgreSQL (TEST_DATABASE_URL).
import { storageLockContract } from './storage-lock.contract.js';
import { forEachStorage } from './test-storages.js';

describe('Storage lock contract', () => {
  forEachStorage((_name, ctx) => storageLockContract(ctx));
});
