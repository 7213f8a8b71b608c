// The published CapabilityStatement (conformance/CapabilityStatement.json) is the one the server generates.
import { readFile } from 'node:fs/promises';
import { expect } from 'chai';
import { CAPABILITY_FILE, generatedCapabilityStatement } from './capability-statement.js';

describe('published CapabilityStatement', () => {
  it('matches what the server generates (regenerate with npm run conformance)', async () => {
    const published = JSON.parse(await readFile(CAPABILITY_FILE, 'utf8')) as unknown;
    expect(await generatedCapabilityStatement()).to.deep.equal(published);
  });
});
