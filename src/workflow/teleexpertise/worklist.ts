// Worklists of the ORTIF kit ("liste des télédossiers"): the requis', the secretariat's and the requérant's sent
// dossiers, as FHIR R4 Task searches (search.html) over indexed parameters, within the caller's visibility.
import type { Predicate } from '../../fhir/search-request.js';
import { errors } from '../../kernel/errors.js';
import { refersTo, type Party } from './dossier-visibility.js';
import { WORKFLOW_SYSTEM } from './workflow-definition.js';

export const WORKLIST_VIEWS = ['requis', 'secretariat', 'sent', 'all'] as const;
export type WorklistView = (typeof WORKLIST_VIEWS)[number];

export interface WorklistRequest {
  view: WorklistView;
  unread?: boolean;
  /** The Task search query (FHIR parameters) with the worklist's own parameters translated. */
  query: Record<string, string[]>;
}

/** Reads view / unread / workflow out of an operation query; every other parameter is a Task search parameter. */
export function parseWorklist(raw: Record<string, string[]>): WorklistRequest {
  const query: Record<string, string[]> = {};
  let view: WorklistView = 'requis';
  let unread: boolean | undefined;
  for (const [key, values] of Object.entries(raw)) {
    if (key === 'view') {
      if (values.length !== 1 || !(WORKLIST_VIEWS as readonly string[]).includes(values[0])) {
        throw errors.badRequest(`view must be one of ${WORKLIST_VIEWS.join(', ')}`, 'view');
      }
      view = values[0] as WorklistView;
    } else if (key === 'unread') {
      if (values.length !== 1 || !['true', 'false'].includes(values[0])) throw errors.badRequest('unread must be true or false', 'unread');
      unread = values[0] === 'true';
    } else if (key === 'workflow') {
      query.code = values.map((v) => v.split(',').map((c) => `${WORKFLOW_SYSTEM}|${c}`).join(','));
    } else {
      query[key] = values;
    }
  }
  if (!query._sort) query._sort = ['-_lastUpdated'];
  return { view, unread, query };
}

/** What the view adds to the search for this party. Views narrow what visibility already allows; never widen it. */
export function worklistPredicates(req: WorklistRequest, party: Party): Predicate[] {
  const preds: Predicate[] = [];
  switch (req.view) {
    case 'requis':
      // Mine and my communities' (an expert and the communities they belong to).
      preds.push(refersTo('owner', [...party.refs, ...party.teams]));
      break;
    case 'secretariat':
      if (party.adminOrgs.length === 0) throw errors.forbidden('The secretariat worklist needs a secretariat role (PractitionerRole.code teleo-role secretariat)');
      preds.push(refersTo('requis-organization', party.adminOrgs));
      break;
    case 'sent':
      preds.push({ t: 'or', preds: [refersTo('requester', party.refs), refersTo('dossier-author', party.refs)] });
      break;
    case 'all':
      break;
  }
  if (req.unread !== undefined) {
    // For the requérant's sent dossiers, "unread" means nobody has opened it yet; otherwise, not opened by me.
    const read: Predicate = req.view === 'sent' ? { t: 'missing', code: 'read-by', kind: 'reference', missing: false }
      : refersTo('read-by', party.refs);
    preds.push(req.unread ? { t: 'not', inner: read } : read);
  }
  // Steps (child Tasks) appear in their owner's requis list; the other views list dossiers only.
  if (req.view !== 'requis') preds.push({ t: 'missing', code: 'part-of', kind: 'reference', missing: true });
  return preds;
}
