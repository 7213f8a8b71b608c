import { Hl7Message } from '@medplum/core';
import { expect } from 'chai';
import { createLogger } from '../kernel/logger.js';
import { createJobRunner } from '../jobs/job-runner.js';
import { createMemoryStorage } from '../store/memory-storage.js';
import { testRegistry } from '../store/test-storages.js';
import { buildAck, headerOf } from './acknowledgment.js';
import type { Hl7Partner } from './hl7-partner.js';
import { createHl7Sender, enqueueHl7, HL7_SEND_JOB } from './mllp-sender.js';
import { adtA28, field, startHarness, type Harness } from './test-mllp.js';

const DPI: Omit<Hl7Partner, 'port'> = {
  name: 'dpi-chu-x', application: 'DPI', facility: 'CHU-X', host: '127.0.0.1', charset: 'UNICODE UTF-8', ackMode: 'original', reportMessage: 'MDM', organizations: [],
};

/** A message from us to the DPI (the DPI's listener is our own MLLP listener configured with us as its partner). */
function toDpi(controlId: string, ipp: string): string {
  return adtA28(controlId, { ipp }).replace('RIS|CHU-X|TELEO|TELEO', 'RIS|CHU-X|DPI|CHU-X');
}

describe('HL7 outbound messages (durable jobs over MLLP)', function () {
  this.timeout(20_000);
  let partner: Harness;
  beforeEach(async () => { partner = await startHarness(); });
  afterEach(async () => { await partner.close(); });

  function setup(port: number) {
    const storage = createMemoryStorage(testRegistry);
    const sender = createHl7Sender({ partners: [{ ...DPI, port }], logger: createLogger('silent'), ackTimeoutMs: 2000 });
    const runner = createJobRunner(storage.jobs, { [HL7_SEND_JOB]: sender.handler }, createLogger('silent'), { backoffBaseMs: 60_000 });
    return { storage, sender, runner };
  }

  it('sends in creation order on one kept-open connection; AA completes each job', async () => {
    const { storage, sender, runner } = setup(partner.listener.port);
    for (let i = 0; i < 5; i++) await enqueueHl7(storage.jobs, { partner: DPI.name, controlId: `OUT${i}`, message: toDpi(`OUT${i}`, `out-${i}`) });
    await runner.drain();
    await sender.close();
    expect((await storage.jobs.list({ type: HL7_SEND_JOB })).map((j) => j.status)).to.deep.equal(['done', 'done', 'done', 'done', 'done']);
    const received = await partner.svc.messages.list({ channel: 'hl7v2' });
    expect(received.map((m) => m.controlId).reverse()).to.deep.equal(['OUT0', 'OUT1', 'OUT2', 'OUT3', 'OUT4']);
    expect(received.every((m) => m.status === 'applied')).to.equal(true);
  });

  it('fails a job the partner refuses (AE) at once, with its ERR text, without retrying it', async () => {
    const { storage, sender, runner } = setup(partner.listener.port);
    await enqueueHl7(storage.jobs, { partner: DPI.name, controlId: 'BAD1', message: toDpi('BAD1', 'x').replace(/PID\|\|\|[^|]*\|/, 'PID||||') });
    await runner.drain();
    await sender.close();
    const [job] = await storage.jobs.list({ type: HL7_SEND_JOB });
    expect(job.status).to.equal('failed');
    expect(job.attempts).to.equal(1);
    expect(job.lastError).to.match(/dpi-chu-x answered AE to BAD1: PID\^1\^3 101\^Required field missing\^HL70357 PID-3/);
  });

  it('retries later when the partner cannot be reached, keeping the error visible', async () => {
    const port = partner.listener.port;
    await partner.close();
    const { storage, sender, runner } = setup(port);
    await enqueueHl7(storage.jobs, { partner: DPI.name, controlId: 'DOWN1', message: toDpi('DOWN1', 'down') });
    await runner.drain();
    await sender.close();
    const [job] = await storage.jobs.list({ type: HL7_SEND_JOB });
    expect(job).to.include({ status: 'pending', attempts: 1 });
    expect(job.lastError).to.match(/ECONNREFUSED/);
    expect(job.runAt.getTime()).to.be.greaterThan(Date.now() + 30_000);
    partner = await startHarness();
  });

  it('enqueues one job per control id: the same message queued twice is sent once', async () => {
    const { storage, sender, runner } = setup(partner.listener.port);
    await enqueueHl7(storage.jobs, { partner: DPI.name, controlId: 'ONCE', message: toDpi('ONCE', 'once') });
    await enqueueHl7(storage.jobs, { partner: DPI.name, controlId: 'ONCE', message: toDpi('ONCE', 'once') });
    await runner.drain();
    await sender.close();
    expect(await storage.jobs.list({ type: HL7_SEND_JOB })).to.have.length(1);
    expect(await partner.svc.messages.list({ channel: 'hl7v2' })).to.have.length(1);
  });

  it('in enhanced mode answers CA at once, then sends the application ACK to the partner as a job', async () => {
    const acks: string[] = [];
    const enhanced = await startHarness({
      partners: [{ name: 'ris-chu-x', application: 'RIS', facility: 'CHU-X', charset: 'UNICODE UTF-8', ackMode: 'enhanced', reportMessage: 'MDM', organizations: [] }],
      sendApplicationAck: async (_p, ack) => { acks.push(ack); },
    });
    try {
      const { rawClient } = await import('./test-mllp.js');
      const c = await rawClient(enhanced.listener.port);
      c.send(adtA28('ENH1', { ipp: 'enh' }).replace('|P|2.5|||||FRA|', '|P|2.5|||AL|AL|FRA|'));
      c.send(adtA28('ENH2', { ipp: 'enh2' }).replace(/PID\|\|\|[^|]*\|/, 'PID||||').replace('|P|2.5|||||FRA|', '|P|2.5|||AL|ER|FRA|'));
      const [ca1, ca2] = await c.replies(2);
      c.end();
      expect([field(ca1, 'MSA', 1), field(ca2, 'MSA', 1)]).to.deep.equal(['CA', 'CA']);
      await enhanced.processor.idle();
      expect(acks.map((a) => `${field(a, 'MSA', 1)} ${field(a, 'MSA', 2)}`)).to.deep.equal(['AA ENH1', 'AE ENH2']);
      expect(headerOf(Hl7Message.parse(acks[1]), 'UNICODE UTF-8').receivingApplication).to.equal('RIS');
    } finally {
      await enhanced.close();
    }
    expect(buildAck('CA', headerOf(Hl7Message.parse(adtA28('X')), 'UNICODE UTF-8'), { application: 'TELEO', facility: 'TELEO' })).to.match(/\rMSA\|CA\|X$/);
  });
});
