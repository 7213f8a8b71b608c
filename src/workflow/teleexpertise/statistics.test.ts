// What the statistics count as an answer, how they summarise delays, and how a reporting period is read.
import { expect } from 'chai';
import { OperationOutcomeError } from '../../kernel/errors.js';
import { WORKFLOWS } from './index.js';
import { answerTransitions } from './statistics.js';
import { instantRange, reportingPeriod } from './statistics-period.js';
import { median, percentile } from './statistics-report.js';

describe('statistics', () => {
  it('counts as the answer the expert side bringing a dossier to completed, per workflow definition', () => {
    expect(Object.fromEntries(WORKFLOWS.map((w) => [w.code, answerTransitions(w)]))).to.deep.equal({
      'avis-urgences': ['repondre'], 'avis-avc': ['repondre'], 'avis-programme': ['repondre'],
      'transfert-imagerie': ['accuser-reception'], 'rcp-greffe-renale': ['rendre-avis'], teleradiologie: ['interpreter'],
    });
  });

  it('takes the median (mean of the middle two) and the nearest-rank 90th percentile', () => {
    expect(median([])).to.equal(undefined);
    expect(median([5, 1, 3])).to.equal(3);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(hundred, 90)).to.equal(90);
    expect(percentile([7], 90)).to.equal(7);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 90)).to.equal(10);
  });

  it('reads dates as whole local days, months and years in the time zone, across daylight-saving changes', () => {
    expect(new Date(instantRange('2024-01-01', 'Europe/Paris', 'x').low).toISOString()).to.equal('2023-12-31T23:00:00.000Z');
    const summer = instantRange('2024-07', 'Europe/Paris', 'x');
    expect([new Date(summer.low).toISOString(), new Date(summer.high).toISOString()]).to.deep.equal(['2024-06-30T22:00:00.000Z', '2024-07-31T22:00:00.000Z']);
    const springForward = instantRange('2024-03-31', 'Europe/Paris', 'x');
    expect((springForward.high - springForward.low) / 3_600_000).to.equal(23);
    expect(instantRange('2024-03-31T10:00:00+02:00', 'Europe/Paris', 'x')).to.deep.equal({ low: Date.parse('2024-03-31T08:00:00Z'), high: Date.parse('2024-03-31T08:00:01Z') });
  });

  it('makes a period from inclusive bounds, and refuses a missing, invalid or reversed one', () => {
    expect(reportingPeriod('2024', '2024', 'UTC')).to.deep.equal({ start: Date.parse('2024-01-01T00:00:00Z'), end: Date.parse('2025-01-01T00:00:00Z') });
    for (const [s, e] of [[undefined, '2024'], ['2024', undefined], ['2024-02-30', '2024-03-01'], ['2024-01-01T10:00', '2024-02-01'], ['2024-02', '2024-01']]) {
      expect(() => reportingPeriod(s, e, 'Europe/Paris'), `${s} → ${e}`).to.throw(OperationOutcomeError);
    }
  });
});
