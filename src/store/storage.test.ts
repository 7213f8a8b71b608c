// Runs the Storage contracts against every backend: memory twin, in-memory PGlite, and PostgreSQL (TEST_DATABASE_URL).
import { jobQueueContract } from './job-queue.contract.js';
import { messageLogContract } from './message-log.contract.js';
import { searchParamsContract } from './search-params.contract.js';
import { searchResultsContract } from './search-results.contract.js';
import { storageContract } from './storage.contract.js';
import { forEachStorage } from './test-storages.js';

describe('Storage contract', () => {
  forEachStorage((name, ctx) => {
    storageContract(name, ctx);
    searchParamsContract(name, ctx);
    searchResultsContract(name, ctx);
    jobQueueContract(name, ctx);
    messageLogContract(name, ctx);
  });
});
