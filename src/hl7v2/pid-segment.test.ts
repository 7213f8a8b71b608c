import { readFileSync, existsSync } from 'node:fs';
import { Hl7Message } from '@medplum/core';
import { expect } from 'chai';
import { OperationOutcomeError } from '../kernel/errors.js';
import { readPid } from './pid-segment.js';
import { tsToFhir, unescapeHl7 } from './hl7-datatypes.js';

const FLUX1 = new URL('../../../shared/fixtures/ansforge-teleradiologie-hl7v2/flux1_ORM_O01_NW_transmission_demande.hl7', import.meta.url);

function pidOf(segment: string) {
  return Hl7Message.parse(`MSH|^~\\&|A|B|C|D|20260101||ADT^A28^ADT_A05|1|P|2.5\r${segment}`).getSegment('PID');
}

describe('PID (PAM-FR) → patient identity', () => {
  (existsSync(FLUX1) ? it : it.skip)('reads the INS with its test OID, the IPP and the legal name of the ANS flux 1 example', () => {
    const pid = readPid(Hl7Message.parse(readFileSync(FLUX1, 'utf8')).getSegment('PID'));
    expect(pid.ins).to.deep.include({ system: 'urn:oid:1.2.250.1.213.1.4.10', value: '279035121518989' });
    expect(pid.name).to.deep.equal({ use: 'official', family: 'PAT-TROIS', given: ['DOMINIQUE'] });
    expect(pid.birthDate).to.equal('1979-03-28');
    expect(pid.gender).to.equal('female');
    expect(pid.reliability).to.equal('VALI');
    expect(pid.address[0]).to.deep.include({ city: 'PARIS', postalCode: '75007', use: 'home' });
  });

  it('takes the IPP (type PI) with its assigning authority OID as the local identifier', () => {
    const pid = readPid(pidOf('PID|||123^^^CHU-X&1.2.250.1.999.1&ISO^PI~X1^^^OTHER^AN||DUPONT^JEAN^^^^^D~MARTIN^JEAN^PIERRE^^^^L||19800229|M'));
    expect(pid.ipp).to.deep.equal({ system: 'urn:oid:1.2.250.1.999.1', value: '123', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PI' }] } });
    expect(pid.ins).to.equal(undefined);
    expect(pid.name).to.deep.include({ family: 'MARTIN', given: ['JEAN', 'PIERRE'] });
    expect(pid.birthDate).to.equal('1980-02-29');
  });

  it('refuses an empty PID-3 with 101 at PID-3', () => {
    try {
      readPid(pidOf('PID|||||DUPONT^JEAN'));
      expect.fail('no error');
    } catch (e) {
      const issue = (e as OperationOutcomeError).outcome.issue[0];
      expect(issue.expression).to.deep.equal(['PID-3']);
      expect(issue.details?.coding?.[0].code).to.equal('101');
    }
  });

  it('refuses a birth date that does not exist with 102 at PID-7', () => {
    try {
      readPid(pidOf('PID|||123^^^CHU&1.2.3&ISO^PI||DUPONT^JEAN||19790230'));
      expect.fail('no error');
    } catch (e) {
      const issue = (e as OperationOutcomeError).outcome.issue[0];
      expect(issue.expression).to.deep.equal(['PID-7']);
      expect(issue.details?.coding?.[0].code).to.equal('102');
      expect(issue.details?.text).to.match(/day 30 does not exist/);
    }
  });

  it('gives local times the Paris offset of their date (winter +01:00, summer +02:00)', () => {
    expect(tsToFhir('20260106134418')).to.equal('2026-01-06T13:44:18+01:00');
    expect(tsToFhir('20260706134418')).to.equal('2026-07-06T13:44:18+02:00');
    expect(tsToFhir('202601061344-0500')).to.equal('2026-01-06T13:44:00-05:00');
  });

  it('unescapes \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\.br\\ and \\X..\\', () => {
    const ctx = Hl7Message.parse('MSH|^~\\&|A|B|C|D|1||ACK|1|P|2.5').context;
    expect(unescapeHl7('a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\.br\\g\\XC3A9\\', ctx)).to.equal('a|b^c&d~e\\f\ngé');
  });
});
