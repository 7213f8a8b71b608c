// The published HL7 v2 integration statement is the one generated from the registered routes and outbound messages.
import { readFile } from 'node:fs/promises';
import { expect } from 'chai';
import { INTEGRATION_STATEMENT_FILE, integrationStatement } from './hl7v2-integration-statement.js';

describe('published HL7 v2 integration statement', () => {
  it('matches what is registered (regenerate with npm run conformance)', async () => {
    expect(integrationStatement()).to.equal(await readFile(INTEGRATION_STATEMENT_FILE, 'utf8'));
  });
});
