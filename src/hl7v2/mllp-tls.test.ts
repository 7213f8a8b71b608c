// MLLP over TLS (IHE ITI TF-2 Appendix "Secure Node" / ATNA TLS): our listener with a server certificate, and with
// client certificates required; our sender toward a partner with `tls: true`. Certificates made by openssl.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { createLogger } from '../kernel/logger.js';
import { createJobRunner } from '../jobs/job-runner.js';
import { createMemoryStorage } from '../store/memory-storage.js';
import { testRegistry } from '../store/test-storages.js';
import { createHl7Sender, enqueueHl7, HL7_SEND_JOB } from './mllp-sender.js';
import { adtA28, field, rawClient, startHarness, type Harness } from './test-mllp.js';

const run = promisify(execFile);

async function makeCertificates(dir: string): Promise<void> {
  const ssl = (...args: string[]) => run('openssl', args);
  await ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=Test CA', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'));
  for (const [name, cn] of [['server', '127.0.0.1'], ['client', 'RIS']]) {
    await ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${cn === '127.0.0.1' ? 'IP' : 'DNS'}:${cn}`, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.csr`));
    await ssl('x509', '-req', '-in', join(dir, `${name}.csr`), '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial',
      '-copy_extensions', 'copy', '-days', '2', '-out', join(dir, `${name}.pem`));
  }
}

describe('MLLP over TLS', function () {
  this.timeout(60_000);
  let dir: string;
  const file = (n: string) => readFile(join(dir, n));
  before(async function () {
    try {
      await run('openssl', ['version']);
    } catch {
      if (process.env.CI) throw new Error('openssl is required in CI');
      this.skip();
    }
    dir = await mkdtemp(join(tmpdir(), 'teleo-mllp-tls-'));
    await makeCertificates(dir);
  });
  after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

  async function sendOver(h: Harness, clientCert: boolean): Promise<{ status: string; lastError?: string }> {
    const storage = createMemoryStorage(testRegistry);
    const sender = createHl7Sender({
      partners: [{ name: 'tls-peer', application: 'X', facility: 'Y', host: '127.0.0.1', port: h.listener.port, tls: true,
        charset: 'UNICODE UTF-8', ackMode: 'original', reportMessage: 'MDM', organizations: [] }],
      logger: createLogger('silent'), ackTimeoutMs: 3000,
      tls: { ca: await file('ca.pem'), ...(clientCert ? { key: await file('client.key'), cert: await file('client.pem') } : {}) },
    });
    const runner = createJobRunner(storage.jobs, { [HL7_SEND_JOB]: sender.handler }, createLogger('silent'), { backoffBaseMs: 60_000 });
    await enqueueHl7(storage.jobs, { partner: 'tls-peer', controlId: 'TLS1', message: adtA28('TLS1', { ipp: `tls-${clientCert}` }) });
    await runner.drain();
    await sender.close();
    const [job] = await storage.jobs.list({ type: HL7_SEND_JOB });
    return { status: job.status, lastError: job.lastError };
  }

  it('takes messages over TLS with a server certificate, and does not speak MLLP in clear on that port', async () => {
    const h = await startHarness({ tls: { key: await file('server.key'), cert: await file('server.pem') } });
    try {
      expect(await sendOver(h, false)).to.deep.include({ status: 'done' });
      const [applied] = await h.svc.messages.list({ channel: 'hl7v2' });
      expect(applied).to.include({ controlId: 'TLS1', status: 'applied' });
      const clear = await rawClient(h.listener.port);
      clear.send(adtA28('CLEAR'));
      // The TLS handshake fails on plain MLLP bytes: the connection is closed without any answer.
      const closed = await new Promise<boolean>((resolve) => {
        clear.socket.once('close', () => resolve(true));
        setTimeout(() => resolve(false), 5000).unref();
      });
      expect(closed).to.equal(true);
      expect(await clear.replies(0)).to.deep.equal([]);
    } finally {
      await h.close();
    }
  });

  it('requires a client certificate signed by the configured CA when asked to', async () => {
    const h = await startHarness({ tls: { key: await file('server.key'), cert: await file('server.pem'), ca: await file('ca.pem'), requestCert: true, rejectUnauthorized: true } });
    try {
      const refused = await sendOver(h, false);
      expect(refused.status).to.equal('pending');
      expect(refused.lastError).to.be.a('string');
      expect(await sendOver(h, true)).to.deep.include({ status: 'done' });
      expect(field((await h.svc.messages.list({ channel: 'hl7v2' }))[0].ack ?? '', 'MSA', 1)).to.equal('AA');
    } finally {
      await h.close();
    }
  });
});
