// IHE PAM-FR 2.11 §6 segment ZBE (mouvement): the movement id, its date, its action (INSERT / UPDATE / CANCEL), the units.
import type { Hl7Segment } from '@medplum/core';
import type { Identifier } from '@medplum/fhirtypes';
import { eiIdentifier, first } from './hl7-datatypes.js';
import { hl7Error } from './hl7-field-errors.js';
import { timestampAt } from './pv1-segment.js';

export const MOVEMENT_ACTIONS = ['INSERT', 'UPDATE', 'CANCEL'] as const;
export type MovementAction = (typeof MOVEMENT_ACTIONS)[number];

/** A functional unit (UF, ZBE-7 medical responsibility, ZBE-8 care): XON-1 name, XON-10 code. */
export interface FunctionalUnit { readonly name: string; readonly code: string }

export interface ZbeMovement {
  /** ZBE-1 movement identifier (EI: id, namespace, universal id). */
  readonly id: Identifier;
  /** ZBE-2 start of the movement. */
  readonly start?: string;
  readonly action: MovementAction;
  /** Set when ZBE-4 was empty and `action` is the one the event implies (a defect of the sender, kept visible). */
  readonly defaulted?: string;
  /** ZBE-5 Y: a movement in the past (historic) was modified. */
  readonly historic: boolean;
  /** ZBE-6 the original trigger event of an UPDATE / CANCEL (e.g. A01 for an A11). */
  readonly originalEvent?: string;
  readonly medicalUnit?: FunctionalUnit;
  readonly careUnit?: FunctionalUnit;
  /** ZBE-9 nature of the movement (HMS, S, H…). */
  readonly nature?: string;
}

function unit(seg: Hl7Segment, field: number): FunctionalUnit | undefined {
  const v = first(seg.getField(field));
  if (!v || (!v.get(1) && !v.get(10))) return undefined;
  return { name: v.get(1), code: v.get(10) };
}

/**
 * Reads ZBE; undefined when the message has none (IHE PAM without the French extension). `expected` is the action
 * the event means (INSERT for A01/A04/A05/A03, CANCEL for A11): another one is refused (103 at ZBE-4); an empty
 * ZBE-4 is read as `expected` and reported through `defaulted`. 101 when ZBE-1 is empty, 102 for a bad ZBE-2.
 */
export function readZbe(zbe: Hl7Segment | undefined, expected: readonly MovementAction[]): ZbeMovement | undefined {
  if (!zbe) return undefined;
  const idValue = first(zbe.getField(1));
  const id = idValue ? eiIdentifier(idValue) : undefined;
  if (!id) throw hl7Error(101, 'ZBE-1', 'ZBE-1 (movement identifier) is required');
  const start = timestampAt(zbe, 2, 'ZBE-2', 'ZBE-2 (movement date/time)');
  const sent = first(zbe.getField(4))?.get(1) ?? '';
  let defaulted: string | undefined;
  let action: MovementAction;
  if (!sent) {
    action = expected[0];
    defaulted = `ZBE-4 (action) empty: read as ${action}`;
  } else if (!(MOVEMENT_ACTIONS as readonly string[]).includes(sent)) {
    throw hl7Error(103, 'ZBE-4', `ZBE-4 action '${sent}' is not one of ${MOVEMENT_ACTIONS.join(', ')}`);
  } else {
    action = sent as MovementAction;
  }
  if (!expected.includes(action)) {
    throw hl7Error(103, 'ZBE-4', `ZBE-4 action ${action} does not fit this event (expected ${expected.join(' or ')})`);
  }
  const medicalUnit = unit(zbe, 7);
  const careUnit = unit(zbe, 8);
  const originalEvent = first(zbe.getField(6))?.get(1);
  const nature = first(zbe.getField(9))?.get(1);
  return {
    id, action, historic: first(zbe.getField(5))?.get(1) === 'Y',
    ...(start ? { start } : {}),
    ...(defaulted ? { defaulted } : {}),
    ...(originalEvent ? { originalEvent } : {}),
    ...(medicalUnit ? { medicalUnit } : {}),
    ...(careUnit ? { careUnit } : {}),
    ...(nature ? { nature } : {}),
  };
}
