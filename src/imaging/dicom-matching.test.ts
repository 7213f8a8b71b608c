// PS3.4 C.2.2.2 matching keys read as filters, and the person-name folding shared by the SQL index and the memory twin.
import { expect } from 'chai';
import { filterOf, foldPersonName, likePattern, matchesFilter, PN_FOLD_FROM, PN_FOLD_TO } from './dicom-matching.js';

describe('DICOM attribute matching (PS3.4 C.2.2.2)', () => {
  it('folds each accented letter of the table to one base letter, and lowers ASCII letters only', () => {
    expect([...PN_FOLD_FROM]).to.have.length([...PN_FOLD_TO].length);
    expect(foldPersonName('LEFÈVRE^Hélène')).to.equal('lefevre^helene');
    expect(foldPersonName('ŒDIPE^Françoise')).to.equal('odipe^francoise');
    expect(foldPersonName('Σ')).to.equal('Σ');
  });

  it('reads empty values and lone asterisks as universal matching, and wildcards only where the VR allows them', () => {
    expect(filterOf('00100010', { vr: 'PN' })).to.equal(undefined);
    expect(filterOf('00100010', { vr: 'PN', Value: [{ Alphabetic: '**' }] })).to.equal(undefined);
    expect(filterOf('00100010', { vr: 'PN', Value: [{ Alphabetic: 'Lef*' }] })?.rule).to.deep.equal({ kind: 'wildcard', pattern: 'lef*' });
    expect(filterOf('0020000D', { vr: 'UI', Value: ['1.2*'] })?.rule).to.deep.equal({ kind: 'single', value: '1.2*' });
    expect(filterOf('0020000D', { vr: 'UI', Value: ['1.2', '1.3'] })?.rule).to.deep.equal({ kind: 'list', values: ['1.2', '1.3'] });
  });

  it('reads date and time ranges, an upper time bound including the whole minute or hour it names', () => {
    expect(filterOf('00080020', { vr: 'DA', Value: ['20250101-'] })?.rule).to.deep.equal({ kind: 'range', from: '20250101' });
    expect(filterOf('00080030', { vr: 'TM', Value: ['-0930'] })?.rule).to.deep.equal({ kind: 'range', to: '093059.999999' });
    const f = filterOf('00080030', { vr: 'TM', Value: ['0800-0930'] });
    expect(f && matchesFilter(f, { '00080030': { vr: 'TM', Value: ['093045.5'] } })).to.equal(true);
    expect(f && matchesFilter(f, { '00080030': { vr: 'TM', Value: ['0931'] } })).to.equal(false);
    expect(f && matchesFilter(f, { '00080030': { vr: 'TM' } })).to.equal(false);
  });

  it('escapes LIKE metacharacters that are literal in a DICOM wildcard', () => {
    expect(likePattern('a%b_c\\d*e?')).to.equal('a\\%b\\_c\\\\d%e_');
  });
});
