// Configuration is read from the environment and an optional file, validated at start with clear messages.
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ConfigError, loadConfig } from './config.js';

describe('config', () => {
  it('starts on embedded defaults', () => {
    const c = loadConfig({});
    expect(c.httpPort).to.equal(8080);
    expect(c.databaseUrl).to.equal(undefined);
    expect(c.dataDir).to.match(/\/data$/);
    expect(c.devIssuer).to.equal(true);
    expect(Object.isFrozen(c)).to.equal(true);
  });

  it('lists every invalid setting in one error', () => {
    try {
      loadConfig({ HTTP_PORT: 'eighty', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x', AUTH_ISSUERS: '{', SEARCH_MAX_COUNT: '0' });
      expect.fail('should throw');
    } catch (e) {
      expect(e).to.be.instanceOf(ConfigError);
      const problems = (e as ConfigError).problems.join('\n');
      for (const name of ['HTTP_PORT', 'LOG_LEVEL', 'DATABASE_URL', 'AUTH_ISSUERS', 'SEARCH_MAX_COUNT']) expect(problems).to.contain(name);
    }
  });

  it('reads the AE titles dedicated to a workflow and names an unknown workflow as the problem', () => {
    const routes = [{ aeTitle: 'TELEO_AVC', workflow: 'avis-programme', requisOrganization: 'Organization/chu' }];
    expect(loadConfig({ DICOM_AE_ROUTES: JSON.stringify(routes) }).dicomAeRoutes).to.deep.equal(routes);
    expect(() => loadConfig({ DICOM_AE_ROUTES: JSON.stringify([{ aeTitle: 'TELEO_X', workflow: 'no-such-workflow' }]) }))
      .to.throw(ConfigError, /DICOM_AE_ROUTES.*avis-programme/s);
  });

  it('reads the forwarding rules and names a destination that is not a known AE with host and port, or an unknown workflow', () => {
    const aes = JSON.stringify([{ aeTitle: 'PACS_CHU', host: 'pacs.chu.fr', port: 104, operations: ['echo'] }, { aeTitle: 'NOPORT', operations: ['echo'] }]);
    const rules = { 'rcp-greffe-renale': { destination: 'PACS_CHU', useDossierIdentity: true } };
    expect(loadConfig({ DICOM_KNOWN_AES: aes, DICOM_FORWARDING: JSON.stringify(rules) }).dicomForwarding).to.deep.equal(rules);
    expect(() => loadConfig({ DICOM_KNOWN_AES: aes, DICOM_FORWARDING: JSON.stringify({ 'rcp-greffe-renale': { destination: 'NOPORT' }, 'no-such': { destination: 'PACS_CHU' } }) }))
      .to.throw(ConfigError, /destination "NOPORT" of "rcp-greffe-renale" must be a DICOM_KNOWN_AES entry with a host and a port.*unknown workflow code "no-such"|unknown workflow code "no-such".*destination "NOPORT"/s);
    expect(() => loadConfig({ DICOM_TLS_KEY_FILE: '/k.pem' })).to.throw(ConfigError, /DICOM_TLS_KEY_FILE and DICOM_TLS_CERT_FILE go together/);
  });

  it('refuses to start without any token issuer', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).to.throw(ConfigError, /No token issuer/);
    expect(loadConfig({ NODE_ENV: 'production', AUTH_ISSUERS: JSON.stringify([{ issuer: 'https://psc', jwksFile: '/k.json' }]) }).issuers).to.have.length(1);
  });

  it('reads a JSON config file, the environment winning', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'teleo-config-'));
    try {
      const file = join(dir, 'c.json');
      await writeFile(file, JSON.stringify({ httpPort: 9000, searchDefaultCount: 50, requiredProfiles: { Patient: ['https://x/p'] } }));
      const c = loadConfig({ CONFIG_FILE: file, HTTP_PORT: '9100' });
      expect(c.httpPort).to.equal(9100);
      expect(c.searchDefaultCount).to.equal(50);
      expect(c.requiredProfiles).to.deep.equal({ Patient: ['https://x/p'] });
      expect(() => loadConfig({ CONFIG_FILE: join(dir, 'missing.json') })).to.throw(ConfigError, /CONFIG_FILE/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
