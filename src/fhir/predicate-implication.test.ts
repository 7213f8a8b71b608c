// Implication between search predicates: the test the resource service uses to drop a redundant visibility filter.
import { expect } from 'chai';
import type { Predicate } from './search-request.js';
import { implies } from './predicate-implication.js';

const ref = (code: string, targetType: string, targetId: string): Predicate => ({ t: 'reference', code, targetType, targetId });
const or = (...preds: Predicate[]): Predicate => ({ t: 'or', preds });

describe('implies (search predicates)', () => {
  const visibility = or(
    or(ref('requester', 'PractitionerRole', 'a'), ref('requester', 'Practitioner', 'p')),
    or(ref('owner', 'PractitionerRole', 'a'), ref('owner', 'CareTeam', 't')),
    { t: 'has', sourceType: 'Task', code: 'part-of', inner: ref('owner', 'PractitionerRole', 'a') },
  );

  it('holds when every alternative of the first is one of the second, however the ors nest', () => {
    expect(implies(or(ref('owner', 'CareTeam', 't'), ref('owner', 'PractitionerRole', 'a')), visibility)).to.equal(true);
    expect(implies(ref('requester', 'Practitioner', 'p'), visibility)).to.equal(true);
    expect(implies({ t: 'has', sourceType: 'Task', code: 'part-of', inner: ref('owner', 'PractitionerRole', 'a') }, visibility)).to.equal(true);
  });

  it('compares predicates by content, not by key order or identity', () => {
    const reordered: Predicate = { targetId: 'a', targetType: 'PractitionerRole', code: 'owner', t: 'reference' };
    expect(implies(reordered, visibility)).to.equal(true);
  });

  it('does not hold when one alternative is outside the second', () => {
    expect(implies(or(ref('owner', 'PractitionerRole', 'a'), ref('owner', 'PractitionerRole', 'b')), visibility)).to.equal(false);
    expect(implies(ref('owner', 'Practitioner', 'a'), visibility)).to.equal(false);
    expect(implies({ t: 'has', sourceType: 'Task', code: 'part-of', inner: ref('owner', 'PractitionerRole', 'b') }, visibility)).to.equal(false);
  });

  it('does not treat a narrower predicate of another form as implying (sound, not complete)', () => {
    const narrower: Predicate = { t: 'not', inner: ref('read-by', 'PractitionerRole', 'a') };
    expect(implies(narrower, visibility)).to.equal(false);
    expect(implies({ t: 'token', code: 'status', value: 'requested' }, visibility)).to.equal(false);
  });

  it('holds for a predicate that matches nothing', () => {
    expect(implies({ t: 'id', ids: [] }, visibility)).to.equal(true);
    expect(implies({ t: 'id', ids: ['x'] }, visibility)).to.equal(false);
  });
});
