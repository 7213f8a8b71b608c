// The worklist views as Task search predicates: each personal view stays within the caller's dossier visibility.
import { expect } from 'chai';
import { implies } from '../../fhir/predicate-implication.js';
import { searchPredicates } from '../resource-service.js';
import { dossierPredicate, type Party } from './dossier-visibility.js';
import { parseWorklist, worklistPredicates } from './worklist.js';

const expert: Party = { refs: ['Practitioner/p1', 'PractitionerRole/r1', 'PractitionerRole/r2'], teams: ['CareTeam/c1', 'CareTeam/c2'], adminOrgs: [] };
const secretariat: Party = { refs: ['Practitioner/p2', 'PractitionerRole/s1'], teams: [], adminOrgs: ['Organization/chu'] };
const nobody: Party = { refs: [], teams: [], adminOrgs: [] };

const predicatesOf = (qs: string, party: Party) => {
  const raw = Object.fromEntries([...new URLSearchParams(qs)].map(([k, v]) => [k, [v]]));
  return worklistPredicates(parseWorklist(raw), party);
};

describe('worklist views and dossier visibility', () => {
  it('the requis, sent and secretariat views each imply the visibility rule, so a search need not AND it again', () => {
    for (const [qs, party] of [['view=requis', expert], ['view=requis&unread=true', expert], ['view=sent', expert], ['view=secretariat', secretariat]] as const) {
      const visibility = dossierPredicate('Task', party);
      if (!visibility) throw new Error('Task is dossier-bound');
      const where = predicatesOf(qs, party);
      expect(where.some((w) => implies(w, visibility)), qs).to.equal(true);
      expect(searchPredicates([], where, visibility), qs).to.deep.equal(where);
    }
  });

  it('keeps the visibility rule for the all view and for a party with no dossier reference', () => {
    const visibility = dossierPredicate('Task', expert);
    if (!visibility) throw new Error('Task is dossier-bound');
    const all = predicatesOf('view=all&unread=true', expert);
    expect(searchPredicates([], all, visibility)).to.deep.equal([...all, visibility]);
    const unrelated = dossierPredicate('Task', { ...expert, refs: ['Practitioner/other'] });
    if (!unrelated) throw new Error('Task is dossier-bound');
    expect(searchPredicates([], predicatesOf('view=requis', expert), unrelated)).to.have.length(2);
    // An empty owner list matches nothing: it implies any rule (the page is empty either way).
    expect(predicatesOf('view=requis', nobody)).to.deep.equal([{ t: 'id', ids: [] }]);
  });
});
