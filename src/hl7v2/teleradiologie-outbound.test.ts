// CI-SIS Téléradiologie end to end, outbound: an order sent over MLLP to the platform becomes a dossier; the requis
// accepts it with a protocol (or refuses it) over FHIR → flux 3 ORU^R01 OK / OC; after flux 4 and the validated report
// → MDM^T02 with the CDA R2 CR, then T10 when the report is amended and T04 when it is withdrawn. Everything arrives at
// the RIS/DPI's own MLLP listener, checked field by field, by xmllint, and by an independent parser (python3-hl7).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Bundle, Parameters, Task } from '@medplum/fhirtypes';
import { expect } from 'chai';
import { startTestServer, type TestServer } from '../http/test-server.js';
import type { Hl7Partner } from './hl7-partner.js';
import type { Hl7Route } from './hl7-route.js';
import { field, rawClient, startHarness, type Harness } from './test-mllp.js';

const run = promisify(execFile);
const FLUX1 = readFileSync(new URL('../../fixtures/hl7v2/ORM_O01/flux1-nw-ok.hl7', import.meta.url), 'utf8').replace(/\r?\n/g, '\r').replace(/\r+$/, '');

/** The RIS's listener records what it receives (a real handler of ours, standing for the RIS application). */
const received: string[] = [];
const inbox = (messageType: string): Hl7Route => ({
  messageType, description: `test RIS/DPI: ${messageType} received`,
  async handle({ message }) { received.push(message.toString()); return { written: [] }; },
});
const RIS_INBOX = [inbox('ORU^R01'), inbox('MDM^T02'), inbox('MDM^T10'), inbox('MDM^T04')];

async function pythonHl7(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flux3-'));
  const file = join(dir, 'm.hl7');
  await writeFile(file, text);
  const script = 'import hl7,sys\nm=hl7.parse(open(sys.argv[1], newline="").read())\nprint([str(s[0]) for s in m])\nprint(str(m.segment("ORC")[1]), str(m.segment("MSH")[21]))';
  // Debian's interpreter, where python3-hl7 is installed (a pyenv or venv python3 earlier in PATH lacks it).
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  return (await run(python, ['-c', script, file])).stdout;
}

describe('Téléradiologie outbound: flux 3 (ORU^R01) and the CR as CDA in MDM^T02/T10/T04', function () {
  this.timeout(60_000);
  let ris: Harness;
  let server: TestServer;
  let requisToken: string;

  before(async () => {
    ris = await startHarness({ routes: RIS_INBOX, partners: [{ name: 'teleo', application: 'TELEO', facility: 'TELEO', charset: 'UNICODE UTF-8', ackMode: 'original', reportMessage: 'MDM', organizations: [] }] });
    const partner: Hl7Partner = { name: 'ris-structure', application: 'StructureApp', facility: 'StructureFacility', host: '127.0.0.1', port: ris.listener.port,
      charset: 'UNICODE UTF-8', ackMode: 'original', reportMessage: 'MDM', orderOwner: 'PractitionerRole/tlr-requis', organizations: [] };
    server = await startTestServer('pglite', { mllpPort: 0, hl7Partners: [partner] });
    for (const body of [
      { resourceType: 'Practitioner', id: 'tlr-eric', identifier: [{ system: 'urn:oid:1.2.250.1.71.4.2.1', value: '801234564895' }], name: [{ family: 'Thomas', given: ['Eric'] }] },
      { resourceType: 'PractitionerRole', id: 'tlr-requis', practitioner: { reference: 'Practitioner/tlr-eric' } },
    ]) expect((await server.fhir(`/${body.resourceType}/${body.id}`, { method: 'PUT', body: JSON.stringify(body) })).status).to.be.oneOf([200, 201]);
    requisToken = await server.token({ fhirUser: 'Practitioner/tlr-eric', role: 'PractitionerRole/tlr-requis' });
  });
  after(async () => { await server?.close(); await ris?.close(); });

  async function send(text: string, controlId: string, placer: string): Promise<string> {
    const c = await rawClient(server.platform.mllpPort as number);
    const [msh, ...rest] = text.replace(/OPN101/g, placer).split('\r');
    const fields = msh.split('|');
    fields[9] = controlId;
    c.send([fields.join('|'), ...rest].join('\r'));
    const [ack] = await c.replies(1);
    c.end();
    return ack;
  }
  async function order(placer: string): Promise<Task> {
    const ack = await send(FLUX1, placer, placer);
    expect(field(ack, 'MSA', 1), field(ack, 'ERR', 8)).to.equal('AA');
    const tasks = (await (await server.fhir('/Task?code=teleradiologie&_count=100')).json() as Bundle<Task>).entry?.map((e) => e.resource as Task) ?? [];
    const sr = (await (await server.fhir(`/ServiceRequest?identifier=${placer}`)).json() as Bundle).entry?.[0]?.resource;
    return tasks.find((t) => t.focus?.reference === `ServiceRequest/${sr?.id}`) as Task;
  }
  const transition = async (task: Task, code: string, extra: Record<string, string>) => {
    const body: Parameters = { resourceType: 'Parameters', parameter: [{ name: 'transition', valueCode: code }, ...Object.entries(extra).map(([name, valueString]) => ({ name, valueString }))] };
    const res = await server.fhir(`/Task/${task.id}/$transition`, { method: 'POST', body: JSON.stringify(body), token: requisToken });
    expect(res.status, await res.clone().text()).to.equal(200);
  };
  async function nextReceived(): Promise<string> {
    for (let i = 0; i < 100 && received.length === 0; i++) {
      await server.platform.jobs.drain();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(received, 'no flux 3 reached the RIS').to.have.length.greaterThan(0);
    return (received.shift() as string).replace(/\n/g, '\r');
  }

  it('sends ORC-1 OK with the protocol in OBX-5 (ED base64) once the requis accepts', async () => {
    const task = await order('OPN-OK-1');
    await transition(task, 'accepter', { protocol: 'IRM cérébrale T1, T2 FLAIR | diffusion' });
    const msg = await nextReceived();
    expect(field(msg, 'MSH', 9)).to.equal('ORU^R01^ORU_R01');
    expect(field(msg, 'MSH', 21)).to.equal('1.0^CISIS_TLR_HL7_V2');
    expect(field(msg, 'MSH', 5)).to.equal('StructureApp');
    expect(field(msg, 'ORC', 1)).to.equal('OK');
    expect(field(msg, 'ORC', 2)).to.equal('OPN-OK-1^^1.2.250.1.748.12345678.12^ISO');
    expect(field(msg, 'ORC', 12).split('^').slice(0, 3)).to.deep.equal(['801234564895', 'Thomas', 'Eric']);
    expect(field(msg, 'OBR', 4).split('^')[0]).to.equal('REPONSE_DEMANDE');
    const ed = field(msg, 'OBX', 5).split('^');
    expect(ed.slice(1, 4)).to.deep.equal(['TEXT', '', 'Base64']);
    expect(Buffer.from(ed[4], 'base64').toString('utf8')).to.equal('IRM cérébrale T1, T2 FLAIR | diffusion');
    expect(field(msg, 'PID', 3)).to.contain('279035121518989^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS');
    expect(msg.split('\r').map((s) => s.slice(0, 3))).to.deep.equal(['MSH', 'PID', 'PV1', 'ORC', 'OBR', 'OBX']);
    const jobs = await (await fetch(`${server.platform.url}/operator/hl7/outbound`, { headers: { Authorization: `Bearer ${await server.token()}` } })).json() as { entries: { status: string; summary: string }[] };
    expect(jobs.entries.some((j) => j.summary.startsWith('ORU^R01 OK (flux 3)') && j.status === 'done')).to.equal(true);
    try {
      const parsed = await pythonHl7(msg);
      expect(parsed).to.contain("['MSH', 'PID', 'PV1', 'ORC', 'OBR', 'OBX']");
      expect(parsed).to.contain('OK 1.0^CISIS_TLR_HL7_V2');
    } catch (e) {
      if (process.env.CI || !String(e).includes('No module named')) throw e;
    }
  });

  it('sends ORC-1 OC with the reason in ORC-16, and no protocol, once the requis refuses', async () => {
    const task = await order('OPN-OC-1');
    await transition(task, 'refuser', { reason: 'Examen non indiqué : échographie d\'abord' });
    const msg = await nextReceived();
    expect(field(msg, 'ORC', 1)).to.equal('OC');
    expect(field(msg, 'ORC', 16)).to.equal('^Examen non indiqué : échographie d\'abord');
    expect(msg.split('\r').map((s) => s.slice(0, 3))).to.deep.equal(['MSH', 'PID', 'PV1', 'ORC', 'OBR']);
  });

  it('sends the validated CR as a CDA R2 document in MDM^T02, then T10 when amended and T04 when withdrawn', async () => {
    const task = await order('OPN-CR-1');
    await transition(task, 'accepter', { protocol: 'Scanner cérébral' });
    await nextReceived(); // flux 3
    const flux4 = readFileSync(new URL('../../fixtures/hl7v2/OMI_O23/flux4-sr-ok.hl7', import.meta.url), 'utf8').replace(/\r?\n/g, '\r').replace(/\r+$/, '');
    const ack4 = await send(flux4, 'F4-CR-1', 'OPN-CR-1');
    expect(field(ack4, 'MSA', 1), field(ack4, 'ERR', 8)).to.equal('AA');
    const pdf = Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n');
    const report = {
      resourceType: 'DiagnosticReport', status: 'final', basedOn: [{ reference: task.focus?.reference as string }], subject: task.for,
      code: { coding: [{ system: 'http://loinc.org', code: '18748-4', display: "CR d'imagerie médicale" }], text: 'IRM cérébrale' },
      resultsInterpreter: [{ reference: 'PractitionerRole/tlr-requis' }], issued: '2026-11-23T10:00:00+01:00',
      conclusion: 'Pas d\'anomalie.', presentedForm: [{ contentType: 'application/pdf', data: pdf.toString('base64') }],
    };
    const created = await server.fhir('/DiagnosticReport', { method: 'POST', body: JSON.stringify(report) });
    expect(created.status, await created.clone().text()).to.equal(201);
    const dr = await created.json() as { id: string; meta: { versionId: string } };
    // Amended before the dossier's step that issues it: nothing goes to the DPI yet.
    expect((await server.fhir(`/DiagnosticReport/${dr.id}`, { method: 'PUT', body: JSON.stringify({ ...report, id: dr.id, status: 'amended' }) })).status).to.equal(200);
    await server.platform.jobs.drain();
    await new Promise((r) => setTimeout(r, 300));
    await server.platform.jobs.drain();
    expect(received).to.deep.equal([]);
    await transition(task, 'interpreter', {});
    const t02 = await nextReceived();
    expect(field(t02, 'MSH', 9)).to.equal('MDM^T02^MDM_T02');
    expect(field(t02, 'MSH', 21)).to.equal('2.1^CISIS_CDA_HL7_V2');
    expect(t02.split('\r').map((x) => x.slice(0, 3)).slice(0, 9)).to.deep.equal(['MSH', 'EVN', 'PID', 'PV1', 'ORC', 'OBR', 'TXA', 'OBX', 'PRT']);
    expect(field(t02, 'ORC', 1)).to.equal('NW');
    const docId = field(t02, 'TXA', 12).split('^')[0];
    expect(docId).to.match(/^2\.25\.\d+$/);
    expect(field(t02, 'TXA', 17)).to.equal('AU');
    const flags = t02.split('\r').filter((x) => x.includes('^MetaDMPMSS|')).map((x) => `${x.split('|')[3].split('^')[0]}=${x.split('|')[5].split('^')[0]}`);
    expect(flags).to.include('DESTDMP=Y');
    expect(flags).to.have.length(10);
    const cda = Buffer.from(field(t02, 'OBX', 5).split('^')[4], 'base64').toString('utf8');
    expect(cda).to.contain(`<id root="${docId}"/>`).and.contain('<realmCode code="FR"/>').and.contain('extension="279035121518989"')
      .and.contain('extension="801234564895"').and.contain('mediaType="application/pdf"').and.contain(pdf.toString('base64'));
    const dir = await mkdtemp(join(tmpdir(), 'cda-'));
    await writeFile(join(dir, 'cr.xml'), cda);
    try {
      await run('xmllint', ['--noout', join(dir, 'cr.xml')]);
    } catch (e) {
      if (process.env.CI || !String(e).includes('ENOENT')) throw e;
    }

    const amended = await server.fhir(`/DiagnosticReport/${dr.id}`, { method: 'PUT', body: JSON.stringify({ ...report, id: dr.id, status: 'amended', conclusion: 'Addendum.' }) });
    expect(amended.status).to.equal(200);
    const t10 = await nextReceived();
    expect(field(t10, 'MSH', 9)).to.equal('MDM^T10^MDM_T02');
    expect(field(t10, 'ORC', 1)).to.equal('RO');
    expect(field(t10, 'TXA', 13).split('^')[0]).to.equal(docId);
    const cda2 = Buffer.from(field(t10, 'OBX', 5).split('^')[4], 'base64').toString('utf8');
    expect(cda2).to.contain('<versionNumber value="2"/>').and.contain(`<relatedDocument typeCode="RPLC"><parentDocument><id root="${docId}"/>`);

    const withdrawn = await server.fhir(`/DiagnosticReport/${dr.id}`, { method: 'PUT', body: JSON.stringify({ ...report, id: dr.id, status: 'entered-in-error' }) });
    expect(withdrawn.status).to.equal(200);
    const t04 = await nextReceived();
    expect(field(t04, 'MSH', 9)).to.equal('MDM^T04^MDM_T02');
    expect(field(t04, 'ORC', 1)).to.equal('CA');
    const docs = (await (await server.fhir(`/DocumentReference?related=DiagnosticReport/${dr.id}`)).json() as Bundle).entry?.map((e) => (e.resource as { status: string }).status);
    expect(docs?.sort()).to.deep.equal(['entered-in-error', 'superseded']);
    try {
      const parsed = await pythonHl7(t02);
      expect(parsed).to.contain("'TXA'");
      expect(parsed).to.contain('NW 2.1^CISIS_CDA_HL7_V2');
    } catch (e) {
      if (process.env.CI || !String(e).includes('No module named')) throw e;
    }
  });
});
