// How a télédossier is laid out in FHIR R4 resources (DESIGN.md §2): the links every module relies on.
//
// - Task (the dossier, no partOf): code = workflow (WORKFLOW_SYSTEM), for = Patient, requester = the requérant,
//   owner = requis (PractitionerRole / CareTeam community / Organization), focus = the ServiceRequest.
// - Task.input[type=document].valueReference = DocumentReference; Task.input[type=exam].valueReference =
//   ImagingStudy; Task.output[type=report].valueReference = DiagnosticReport. Searchable as Task?dossier-content.
//   Once the dossier is sent, inputs are never removed (corrections are new versions or entered-in-error).
// - Communication.partOf = the Task (complementary information, notifications about the dossier).
// - Provenance.target = the Task (one per transition).
// - Child Task.partOf = the dossier (complementary opinion from a tiers, acknowledgement steps).
// - Extensions on the Task: dossier-author (author acting on behalf of the requester), dossier-sender-community
//   (visibility "Ma communauté": the members of this CareTeam see the dossier; absent = "Moi-même"),
//   dossier-read (one per participant's first read: reader, role, time).
// - ImagingStudy extension image-source: how the exam reached the platform (statistics).

export { DOSSIER_AUTHOR_URL } from './dossier-roles.js';

/** Task extension (valueReference CareTeam): the sender's community that shares the dossier ("Ma communauté"). */
export const SENDER_COMMUNITY_URL = 'https://teleo.fr/fhir/StructureDefinition/dossier-sender-community';
/**
 * Task extension (valueReference Organization), server-owned: the establishment the dossier is addressed to — the
 * owner's organization when the Task was last written (routing included). Drives the secretariat's worklist.
 */
export const REQUIS_ORGANIZATION_URL = 'https://teleo.fr/fhir/StructureDefinition/dossier-requis-organization';
/** Task extension (complex: reader valueReference, role valueCode, time valueDateTime): a participant's first read. */
export const READ_RECEIPT_URL = 'https://teleo.fr/fhir/StructureDefinition/dossier-read';
/** ImagingStudy extension (valueCode in IMAGE_SOURCES): how the images reached the platform. */
export const IMAGE_SOURCE_URL = 'https://teleo.fr/fhir/StructureDefinition/image-source';
export const IMAGE_SOURCES = ['c-store', 'pacs-query', 'file-import', 'stow-rs'] as const;
export type ImageSource = (typeof IMAGE_SOURCES)[number];

/** Task.input.type / Task.output.type system for the dossier's content. */
export const DOSSIER_CONTENT_SYSTEM = 'https://teleo.fr/fhir/CodeSystem/teleo-dossier-content';
export type DossierContentType = 'document' | 'exam' | 'report';

/**
 * The resource types that belong to a dossier and are visible only through it (the visit the bureau des entrées
 * creates, Encounter.basedOn = the ServiceRequest or Task.encounter, and the act billed for it, ChargeItem.context =
 * that Encounter, included).
 */
export const DOSSIER_BOUND_TYPES = [
  'Task', 'ServiceRequest', 'DocumentReference', 'ImagingStudy', 'DiagnosticReport', 'Communication', 'Provenance',
  'Encounter', 'ChargeItem',
] as const;
