// DICOM TLS on the DIMSE listener (PS3.15 B.1 Basic TLS Secure Transport Connection Profile, dcmjs-dimse's
// securityOptions): dcmtk's echoscu/storescu over TLS with certificates made by openssl for the test, without a client
// certificate (--anonymous-tls) and, when the listener asks for one, with a client certificate signed by its CA.
import { mkdtemp, rm } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { openGatewayHarness, type GatewayHarness } from './test-gateway-harness.js';
import { describeWithDicomPeers, newUid, run, writeGeneratedDicom } from './test-dicom-peers.js';

/** A CA, a server certificate for 127.0.0.1 and a client certificate, both signed by the CA (openssl). */
async function makeCertificates(dir: string): Promise<void> {
  const ssl = async (...args: string[]) => {
    const r = await run('openssl', args);
    if (r.code !== 0) throw new Error(`openssl ${args[0]}: ${r.output}`);
  };
  await ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=Test CA', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'));
  for (const [name, cn] of [['server', '127.0.0.1'], ['client', 'MODALITY']]) {
    await ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.csr`));
    await ssl('x509', '-req', '-in', join(dir, `${name}.csr`), '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial',
      '-days', '2', '-out', join(dir, `${name}.pem`));
  }
}

describeWithDicomPeers('DICOM TLS listener (echoscu, storescu with +tls / +tla)', function () {
  this.timeout(60_000);
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'teleo-dicom-tls-'));
    await makeCertificates(dir);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('server certificate only', () => {
    let h: GatewayHarness;
    before(async () => {
      h = await openGatewayHarness(join(dir, 'anon'), 'memory', {}, { key: await readFile(join(dir, 'server.key')), cert: await readFile(join(dir, 'server.pem')) });
    });
    after(async () => h?.close());

    it('answers C-ECHO and stores over an anonymous TLS connection (echoscu/storescu --anonymous-tls)', async () => {
      const echo = await run('echoscu', ['-v', '+tla', '+cf', join(dir, 'ca.pem'), '-aet', 'MODALITY', '-aec', 'TELEO', '127.0.0.1', String(h.port)]);
      expect(echo.code, echo.output).to.equal(0);
      const file = join(dir, 'one.dcm');
      const { sopInstanceUid } = await writeGeneratedDicom(file, { studyInstanceUid: newUid() });
      const store = await run('storescu', ['-v', '+tla', '+cf', join(dir, 'ca.pem'), '-aet', 'MODALITY', '-aec', 'TELEO', '127.0.0.1', String(h.port), file]);
      expect(store.output).to.match(/Received Store Response \(Success\)/);
      expect(await h.index.get(sopInstanceUid)).to.not.equal(undefined);
    });

    it('does not speak DICOM in clear on the TLS port', async () => {
      const echo = await run('echoscu', ['-aet', 'MODALITY', '-aec', 'TELEO', '-to', '5', '-ta', '5', '127.0.0.1', String(h.port)]);
      expect(echo.code).to.not.equal(0);
    });
  });

  describe('client certificates required (CA configured)', () => {
    let h: GatewayHarness;
    before(async () => {
      h = await openGatewayHarness(join(dir, 'mutual'), 'memory', {}, {
        key: await readFile(join(dir, 'server.key')), cert: await readFile(join(dir, 'server.pem')),
        ca: await readFile(join(dir, 'ca.pem')), requestCert: true, rejectUnauthorized: true,
      });
    });
    after(async () => h?.close());

    it('accepts a client with a certificate signed by the CA (+tls key cert) and refuses one without (+tla)', async () => {
      const withCert = await run('echoscu', ['-v', '+tls', join(dir, 'client.key'), join(dir, 'client.pem'), '+cf', join(dir, 'ca.pem'),
        '-aet', 'MODALITY', '-aec', 'TELEO', '127.0.0.1', String(h.port)]);
      expect(withCert.code, withCert.output).to.equal(0);
      const anonymous = await run('echoscu', ['-v', '+tla', '+cf', join(dir, 'ca.pem'), '-aet', 'MODALITY', '-aec', 'TELEO', '-to', '5', '127.0.0.1', String(h.port)]);
      expect(anonymous.code).to.not.equal(0);
    });
  });
});
