import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Hl7Message } from '@medplum/core';
import { Hl7Client } from '@medplum/hl7';
import { expect } from 'chai';
import iconv from 'iconv-lite';
import { SYSTEM_PRINCIPAL } from '../kernel/principal.js';
import { adtA28, field, rawClient, startHarness, type Harness } from './test-mllp.js';

const run = promisify(execFile);
const SEED = { principal: SYSTEM_PRINCIPAL };

async function patientsWithIpp(h: Harness, ipp: string): Promise<number> {
  return (await h.svc.search(SEED, 'Patient', { identifier: [`urn:oid:1.2.250.1.999.1|${ipp}`] })).resources.length;
}

describe('MLLP listener (HL7 v2.5.1 Appendix C, §2.9 acknowledgments)', function () {
  this.timeout(20_000);
  let h: Harness;
  beforeEach(async () => { h = await startHarness(); });
  afterEach(async () => { await h.close(); });

  it('stores the raw message, applies it and answers AA with MSA-2 = MSH-10 (real client: @medplum/hl7)', async () => {
    const client = new Hl7Client({ host: '127.0.0.1', port: h.listener.port });
    try {
      const ack = await client.sendAndWait(Hl7Message.parse(adtA28('A1', { ipp: 'ipp-a1' })), { timeoutMs: 5000 });
      expect(ack.getSegment('MSA')?.getField(1)?.toString()).to.equal('AA');
      expect(ack.getSegment('MSA')?.getField(2)?.toString()).to.equal('A1');
      expect(ack.header.getField(9)?.toString()).to.equal('ACK^A28^ACK');
      expect(ack.header.getField(3)?.toString()).to.equal('TELEO');
      expect(ack.header.getField(5)?.toString()).to.equal('RIS');
    } finally {
      await client.close();
    }
    expect(await patientsWithIpp(h, 'ipp-a1')).to.equal(1);
    const [logged] = await h.svc.messages.list({ channel: 'hl7v2' });
    expect(logged).to.include({ status: 'applied', controlId: 'A1', sender: 'RIS^CHU-X', partner: 'ris-chu-x', messageType: 'ADT^A28' });
    expect((await h.svc.messages.raw(logged.id))?.toString('utf8')).to.equal(adtA28('A1', { ipp: 'ipp-a1' }));
  });

  it('recognises a duplicate MSH-10 from the same sender: same ACK, applied once', async () => {
    const c = await rawClient(h.listener.port);
    c.send(adtA28('DUP-1', { ipp: 'ipp-dup' }));
    const [first] = await c.replies(1);
    c.send(adtA28('DUP-1', { ipp: 'ipp-dup' }));
    const [second] = await c.replies(1);
    c.end();
    expect(field(first, 'MSA', 1)).to.equal('AA');
    expect(second).to.equal(first);
    expect(await patientsWithIpp(h, 'ipp-dup')).to.equal(1);
    expect((await h.svc.messages.list({ channel: 'hl7v2' })).map((m) => m.status)).to.deep.equal(['duplicate', 'applied']);
  });

  it('answers pipelined messages in the order received, on one connection kept open', async () => {
    const c = await rawClient(h.listener.port);
    const n = 30;
    c.write(Buffer.concat(Array.from({ length: n }, (_, i) => Buffer.from(`\x0b${adtA28(`P${i}`, { ipp: `pipe-${i}` })}\x1c\r`))));
    const acks = await c.replies(n);
    expect(acks.map((a) => field(a, 'MSA', 2))).to.deep.equal(Array.from({ length: n }, (_, i) => `P${i}`));
    expect(acks.every((a) => field(a, 'MSA', 1) === 'AA')).to.equal(true);
    c.send(adtA28('P-after', { ipp: 'pipe-after' }));
    expect(field((await c.replies(1))[0], 'MSA', 1)).to.equal('AA');
    c.end();
  });

  it('answers pipelined enhanced-mode messages CA once stored together, then applies each once, in order', async () => {
    const c = await rawClient(h.listener.port);
    const enhanced = (id: string, ipp: string) => adtA28(id, { ipp }).replace('|P|2.5|||||FRA|', '|P|2.5|||AL|NE|FRA|');
    const ids = Array.from({ length: 40 }, (_, i) => `G${i}`);
    c.write(Buffer.concat([...ids, 'G3'].map((id) => Buffer.from(`\x0b${enhanced(id, `grp-${id}`)}\x1c\r`))));
    const acks = await c.replies(41);
    c.end();
    expect(acks.map((a) => `${field(a, 'MSA', 1)} ${field(a, 'MSA', 2)}`)).to.deep.equal([...ids, 'G3'].map((id) => `CA ${id}`));
    await h.processor.idle();
    const logged = (await h.svc.messages.list({ channel: 'hl7v2', limit: 100 })).reverse();
    expect(logged.map((m) => `${m.controlId} ${m.status}`)).to.deep.equal([...ids.map((id) => `${id} applied`), 'G3 duplicate']);
    expect(await patientsWithIpp(h, 'grp-G3')).to.equal(1);
    expect(await patientsWithIpp(h, 'grp-G39')).to.equal(1);
  });

  it('frames split anywhere, even between FS and CR, still make one message', async () => {
    const c = await rawClient(h.listener.port);
    const bytes = Buffer.from(`\x0b${adtA28('SPLIT', { ipp: 'split' })}\x1c\r`);
    for (const cut of [1, 40, bytes.length - 1]) {
      c.write(bytes.subarray(0, cut));
      await new Promise((r) => setTimeout(r, 20));
      c.write(bytes.subarray(cut));
    }
    const acks = await c.replies(3);
    c.end();
    expect(acks.map((a) => field(a, 'MSA', 1))).to.deep.equal(['AA', 'AA', 'AA']);
    expect(await patientsWithIpp(h, 'split')).to.equal(1);
  });

  it('refuses an unsupported message type with AR and ERR 200 at MSH-9, and keeps the message', async () => {
    const c = await rawClient(h.listener.port);
    c.send(adtA28('T1').replace('ADT^A28^ADT_A05', 'ZZZ^Z01'));
    const [ack] = await c.replies(1);
    c.end();
    expect(field(ack, 'MSA', 1)).to.equal('AR');
    expect(field(ack, 'ERR', 2)).to.equal('MSH^1^9^1^1');
    expect(field(ack, 'ERR', 3)).to.equal('200^Unsupported message type^HL70357');
    expect(field(ack, 'ERR', 8)).to.match(/Message type ZZZ is not supported \(supported: ADT\\S\\A28\)/);
    const [dead] = await h.svc.messages.list({ channel: 'hl7v2', status: 'rejected' });
    expect(dead).to.include({ controlId: 'T1', messageType: 'ZZZ^Z01' });
    expect(dead.error).to.match(/ZZZ is not supported/);
  });

  it('answers AR 201 for an unknown event of a known type, AR 203 for an unsupported version', async () => {
    const c = await rawClient(h.listener.port);
    c.send(adtA28('E1').replace('ADT^A28^ADT_A05', 'ADT^A99'));
    c.send(adtA28('V1').replace('|P|2.5|', '|P|2.3|'));
    const [event, version] = await c.replies(2);
    c.end();
    expect([field(event, 'MSA', 1), field(event, 'ERR', 2), field(event, 'ERR', 3).split('^')[0]]).to.deep.equal(['AR', 'MSH^1^9^1^2', '201']);
    expect([field(version, 'MSA', 1), field(version, 'ERR', 2), field(version, 'ERR', 3).split('^')[0]]).to.deep.equal(['AR', 'MSH^1^12', '203']);
  });

  it('refuses a sender that is not a configured partner with AR 204 at MSH-3', async () => {
    const c = await rawClient(h.listener.port);
    c.send(adtA28('U1', { app: 'INTRUDER' }));
    const [ack] = await c.replies(1);
    c.end();
    expect([field(ack, 'MSA', 1), field(ack, 'ERR', 2), field(ack, 'ERR', 3).split('^')[0]]).to.deep.equal(['AR', 'MSH^1^3', '204']);
    expect(field(ack, 'ERR', 8)).to.contain('Unknown sender INTRUDER / CHU-X');
  });

  it('names wrong delimiters in MSH-2, and keeps serving the connection', async () => {
    const c = await rawClient(h.listener.port);
    c.send(adtA28('D1').replace('MSH|^~\\&|', 'MSH|^^^^|'));
    c.send('PID|||no header');
    c.send(adtA28('D2', { ipp: 'after-bad' }));
    const [delims, noMsh, good] = await c.replies(3);
    c.end();
    expect([field(delims, 'MSA', 1), field(delims, 'ERR', 2)]).to.deep.equal(['AE', 'MSH^1^2']);
    expect(field(delims, 'ERR', 8)).to.contain('five distinct delimiters');
    expect([field(noMsh, 'MSA', 1), field(noMsh, 'ERR', 2)]).to.deep.equal(['AE', 'MSH^1']);
    expect(field(good, 'MSA', 1)).to.equal('AA');
    expect(await h.svc.messages.list({ channel: 'hl7v2', status: 'rejected' })).to.have.length(2);
  });

  it('decodes ISO 8859-15 by MSH-18 and answers in it; refuses bytes that are not the UTF-8 they claim (AE 102 at MSH-18)', async () => {
    const c = await rawClient(h.listener.port);
    c.write(Buffer.concat([Buffer.from([0x0b]), iconv.encode(adtA28('L1', { ipp: 'latin', family: 'LÉVÊQUE€', charset: '8859/15' }), 'iso-8859-15'), Buffer.from([0x1c, 0x0d])]));
    c.write(Buffer.concat([Buffer.from([0x0b]), iconv.encode(adtA28('L2', { ipp: 'liar', family: 'LÉVÊQUE' }), 'latin1'), Buffer.from([0x1c, 0x0d])]));
    const [latin, liar] = await c.replies(2, 'latin1');
    c.end();
    expect(field(latin, 'MSA', 1)).to.equal('AA');
    expect(field(latin, 'MSH', 18)).to.equal('8859/15');
    const [p] = (await h.svc.search(SEED, 'Patient', { identifier: ['urn:oid:1.2.250.1.999.1|latin'] })).resources;
    expect((p as { name: { family: string }[] }).name[0].family).to.equal('LÉVÊQUE€');
    expect([field(liar, 'MSA', 1), field(liar, 'ERR', 2), field(liar, 'ERR', 3).split('^')[0]]).to.deep.equal(['AE', 'MSH^1^18', '102']);
    expect(field(liar, 'ERR', 8)).to.match(/byte \d+ \(0xc9\) is not valid UTF-8/);
    expect(await patientsWithIpp(h, 'liar')).to.equal(0);
  });

  it('keeps a truncated frame (connection closed inside it) and serves the next connection', async () => {
    const c = await rawClient(h.listener.port);
    c.write(`\x0b${adtA28('CUT').slice(0, 60)}`);
    c.end();
    await new Promise((r) => setTimeout(r, 200));
    const next = await rawClient(h.listener.port);
    next.send(adtA28('NEXT', { ipp: 'next' }));
    expect(field((await next.replies(1))[0], 'MSA', 1)).to.equal('AA');
    next.end();
    const [dead] = await h.svc.messages.list({ channel: 'hl7v2', status: 'rejected' });
    expect(dead.error).to.match(/Connection closed inside an MLLP frame after 60 bytes/);
    expect((await h.svc.messages.raw(dead.id))?.length).to.equal(60);
  });

  it('answers AR to a message over the size limit, keeping its head, without holding it whole', async () => {
    await h.close();
    h = await startHarness({ maxMessageBytes: 64 * 1024 });
    const c = await rawClient(h.listener.port);
    const big = `${adtA28('BIG')}\rOBX|1|TX|X^Y^L||${'A'.repeat(10 * 1024 * 1024)}`;
    c.send(big);
    c.send(adtA28('SMALL', { ipp: 'small' }));
    const [tooBig, small] = await c.replies(2);
    c.end();
    expect(field(tooBig, 'MSA', 1)).to.equal('AE');
    expect(field(tooBig, 'MSA', 2)).to.equal('BIG');
    expect(field(tooBig, 'ERR', 8)).to.contain(`Message of ${Buffer.byteLength(big)} bytes exceeds the 65536-byte limit`);
    expect(field(small, 'MSA', 1)).to.equal('AA');
    const [dead] = await h.svc.messages.list({ channel: 'hl7v2', status: 'rejected' });
    expect(dead.size).to.equal(64 * 1024);
  });

  it('AE with the handler\'s located error keeps the message as a dead letter; a replay after the fix applies it', async () => {
    const c = await rawClient(h.listener.port);
    c.send(adtA28('NOPID').replace(/PID\|\|\|[^|]*\|/, 'PID||||'));
    const [ack] = await c.replies(1);
    c.end();
    expect([field(ack, 'MSA', 1), field(ack, 'ERR', 2), field(ack, 'ERR', 3).split('^')[0]]).to.deep.equal(['AE', 'PID^1^3', '101']);
    const [dead] = await h.svc.messages.list({ channel: 'hl7v2', status: 'rejected' });
    expect(dead.error).to.contain('PID-3');
    // Replaying unchanged data fails the same way, and the message stays a dead letter.
    expect(await h.processor.replay(dead.id)).to.include({ status: 'rejected', attempts: 2 });
  });

  it('applies after a restart the messages stored but not applied, once', async () => {
    const raw = Buffer.from(adtA28('CRASH', { ipp: 'crash' }));
    await h.svc.messages.receive({ channel: 'hl7v2', partner: 'ris-chu-x', sender: 'RIS^CHU-X', controlId: 'CRASH', messageType: 'ADT^A28', raw, receivedAt: new Date() });
    expect(await h.processor.resume()).to.equal(1);
    expect(await h.processor.resume()).to.equal(0);
    expect(await patientsWithIpp(h, 'crash')).to.equal(1);
    const c = await rawClient(h.listener.port);
    c.send(adtA28('CRASH', { ipp: 'crash' }));
    expect(field((await c.replies(1))[0], 'MSA', 1)).to.equal('AA');
    c.end();
    expect(await patientsWithIpp(h, 'crash')).to.equal(1);
  });

  it('is reachable by python3-hl7\'s mllp_send (an independent MLLP client)', async function () {
    try {
      await run('mllp_send', ['--version']);
    } catch {
      if (process.env.CI) throw new Error('mllp_send (Debian python3-hl7) is required in CI');
      this.skip();
    }
    const dir = await mkdtemp(join(tmpdir(), 'mllp-'));
    const file = join(dir, 'a28.hl7');
    await writeFile(file, `${adtA28('PY1', { ipp: 'python' }).replace(/\r/g, '\r\n')}\r\n`);
    const { stdout } = await run('mllp_send', ['--loose', '--file', file, '--port', String(h.listener.port), '127.0.0.1']);
    expect(stdout).to.match(/MSA\|AA\|PY1/);
    expect(await patientsWithIpp(h, 'python')).to.equal(1);
  });
});
