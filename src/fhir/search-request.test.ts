// Tests the FHIR search parser (parseSearch): predicates built from a query, and malformed queries rejected with 400.
import { expect } from 'chai';
import { OperationOutcomeError } from '../kernel/errors.js';
import { queryOf, searchOf, testRegistry } from '../store/test-storages.js';
import { parseSearch } from './search-request.js';

function rejectionOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(OperationOutcomeError);
    return (e as OperationOutcomeError).outcome.id;
  }
  throw new Error('expected a 400');
}

describe('parseSearch', () => {
  describe('rejects malformed searches with 400', () => {
    const bad: [string, string][] = [
      ['Patient', 'unknown-param=x'],
      ['Patient', 'birthdate=not-a-date'],
      ['Patient', 'birthdate=2024-13'],
      ['Patient', 'birthdate=2024-05-32'],
      ['Patient', 'birthdate=gt2024-1'],
      ['Patient', '_lastUpdated=yesterday'],
      ['Patient', 'family:below=x'],
      ['Patient', 'birthdate:exact=2024'],
      ['Patient', 'gender:contains=ma'],
      ['Patient', '_id:exact=1'],
      ['Patient', 'family:missing=maybe'],
      ['Patient', 'identifier:of-type=a|b'],
      ['Task', 'subject:lowercase=1'],
      ['Task', 'patient:Device=1'],
      ['ChargeItem', 'factor-override=abc'],
      ['Observation', 'value-quantity=lots|http://unitsofmeasure.org|mg'],
      ['Patient', '_count=-1'],
      ['Patient', '_count=many'],
      ['Patient', '_offset=1.5'],
      ['Patient', '_total=maybe'],
      ['Patient', '_summary=everything'],
      ['Patient', '_sort=general-practitioner'],
      ['Patient', '_sort=unknown'],
      ['Patient', '_include=Patient:name'],
      ['Patient', '_include=Nope:subject'],
      ['Patient', '_include:deep=Patient:organization'],
      ['Patient', '_revinclude=*'],
      ['Patient', 'family.name=x'],
      ['Task', 'patient.unknown=x'],
      ['Patient', '_has:Nope:subject:status=final'],
      ['Patient', '_has:Observation:code:status=final'],
      ['Patient', '_has:Observation:patient'],
      ['Patient', '_has:Task:owner:unknown=x'],
    ];
    for (const [rt, qs] of bad) {
      it(`${rt}?${qs}`, () => {
        expect(rejectionOf(() => searchOf(rt, qs))).to.equal('400');
      });
    }
  });

  it('ignores unknown parameters when lenient', () => {
    const s = parseSearch(testRegistry, 'Patient', queryOf('unknown=1&family=x&birthdate=bad'),
      { defaultCount: 20, maxCount: 1000, lenient: true });
    expect(s.predicates).to.deep.equal([{ t: 'string', code: 'family', mode: 'prefix', value: 'x' }]);
  });

  it('applies the default count and caps _count at the maximum', () => {
    expect(searchOf('Patient', '').count).to.equal(20);
    expect(searchOf('Patient', '_count=5000').count).to.equal(1000);
    expect(searchOf('Patient', '_count=0').count).to.equal(0);
    expect(searchOf('Patient', '_offset=40').offset).to.equal(40);
  });

  it('turns a comma list into an OR and honours escaped commas', () => {
    expect(searchOf('Patient', 'family=a,b').predicates).to.deep.equal([{ t: 'or', preds: [
      { t: 'string', code: 'family', mode: 'prefix', value: 'a' },
      { t: 'string', code: 'family', mode: 'prefix', value: 'b' },
    ] }]);
    expect(searchOf('Patient', 'family:exact=a\\,b').predicates).to.deep.equal(
      [{ t: 'string', code: 'family', mode: 'exact', value: 'a,b' }]);
  });

  it('normalises string values but keeps :exact values as given', () => {
    expect(searchOf('Patient', 'family=Dùpont').predicates).to.deep.equal([{ t: 'string', code: 'family', mode: 'prefix', value: 'dupont' }]);
    expect(searchOf('Patient', 'family:exact=Dùpont').predicates).to.deep.equal([{ t: 'string', code: 'family', mode: 'exact', value: 'Dùpont' }]);
  });

  it('parses token forms', () => {
    const p = (qs: string) => searchOf('Observation', qs).predicates[0];
    expect(p('code=c')).to.deep.equal({ t: 'token', code: 'code', value: 'c' });
    expect(p('code=s|c')).to.deep.equal({ t: 'token', code: 'code', system: 's', value: 'c' });
    expect(p('code=|c')).to.deep.equal({ t: 'token', code: 'code', system: null, value: 'c' });
    expect(p('code=s|')).to.deep.equal({ t: 'token', code: 'code', system: 's', value: undefined });
    expect(p('code:not=c')).to.deep.equal({ t: 'not', inner: { t: 'token', code: 'code', value: 'c' } });
  });

  it('parses reference forms', () => {
    const p = (qs: string) => searchOf('Task', qs).predicates[0];
    expect(p('subject=123')).to.deep.equal({ t: 'reference', code: 'subject', targetType: undefined, targetId: '123' });
    expect(p('subject=Patient/123')).to.deep.equal({ t: 'reference', code: 'subject', targetType: 'Patient', targetId: '123' });
    expect(p('subject:Patient=123')).to.deep.equal({ t: 'reference', code: 'subject', targetType: 'Patient', targetId: '123' });
    expect(p('subject=https://x.org/fhir/Patient/123')).to.deep.equal({ t: 'reference', code: 'subject', targetType: 'Patient', targetId: '123' });
    expect(p('owner:identifier=s|v')).to.deep.equal({ t: 'token', code: 'owner:identifier', system: 's', value: 'v' });
  });

  it('parses date prefixes with the range implied by precision', () => {
    const [pred] = searchOf('Patient', 'birthdate=ge2024-05').predicates;
    expect(pred).to.deep.equal({
      t: 'date', code: 'birthdate', prefix: 'ge', low: Date.UTC(2024, 4, 1), high: Date.UTC(2024, 5, 1) - 1,
    });
  });

  it('compares numbers with ordering prefixes against the exact value', () => {
    expect(searchOf('ChargeItem', 'factor-override=100').predicates[0]).to.include({ prefix: 'eq', low: 99.5, high: 100.5 });
    expect(searchOf('ChargeItem', 'factor-override=gt100').predicates[0]).to.include({ prefix: 'gt', low: 100, high: 100 });
    expect(searchOf('Observation', 'value-quantity=le5.4||mg').predicates[0]).to.include({ prefix: 'le', low: 5.4, high: 5.4, unit: 'mg' });
  });

  it('parses sort, total, include and revinclude', () => {
    const s = searchOf('Task', '_sort=-authored-on,_id&_total=none&_include=Task:patient&_include:iterate=Patient:organization&_revinclude=Provenance:target');
    expect(s.sort).to.deep.equal([
      { code: 'authored-on', descending: true, kind: 'date' },
      { code: '_id', descending: false, kind: 'id' },
    ]);
    expect(s.total).to.equal('none');
    expect(s.include).to.deep.equal([
      { sourceType: 'Task', code: 'patient', targetType: undefined, iterate: false },
      { sourceType: 'Patient', code: 'organization', targetType: undefined, iterate: true },
    ]);
    expect(s.revinclude).to.deep.equal([{ sourceType: 'Provenance', code: 'target', targetType: undefined, iterate: false }]);
  });

  it('parses chains and nested _has', () => {
    const [chain] = searchOf('DiagnosticReport', 'subject:Patient.general-practitioner.name=x').predicates;
    expect(chain).to.deep.equal({ t: 'chain', code: 'subject', targets: [{ type: 'Patient', inner: {
      t: 'chain', code: 'general-practitioner', targets: [
        { type: 'Practitioner', inner: { t: 'string', code: 'name', mode: 'prefix', value: 'x' } },
        { type: 'Organization', inner: { t: 'string', code: 'name', mode: 'prefix', value: 'x' } },
      ],
    } }] });
    const [has] = searchOf('Patient', '_has:Observation:patient:_has:DiagnosticReport:result:status=final').predicates;
    expect(has).to.deep.equal({ t: 'has', sourceType: 'Observation', code: 'patient', inner: {
      t: 'has', sourceType: 'DiagnosticReport', code: 'result', inner: { t: 'token', code: 'status', value: 'final' },
    } });
  });
});
