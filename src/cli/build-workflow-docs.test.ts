// The state diagrams of ig/workflows/ are the ones the workflow definitions generate (npm run workflow-docs).
import { readdir, readFile } from 'node:fs/promises';
import { expect } from 'chai';
import { WORKFLOWS } from '../workflow/teleexpertise/index.js';
import { AVIS_PROGRAMME } from '../workflow/teleexpertise/workflows/avis-programme.js';
import { WORKFLOW_DOCS_DIR, workflowDoc, workflowDocs } from './build-workflow-docs.js';

describe('workflow state diagrams (ig/workflows)', () => {
  it('match what the definitions generate, one page per workflow and no stale page (regenerate with npm run workflow-docs)', async () => {
    const generated = workflowDocs();
    expect((await readdir(WORKFLOW_DOCS_DIR)).filter((f) => f.endsWith('.md')).sort()).to.deep.equal([...generated.keys()].sort());
    for (const [name, content] of generated) {
      expect(await readFile(`${WORKFLOW_DOCS_DIR}${name}`, 'utf8'), name).to.equal(content);
    }
  });

  it('draws one edge per (from state, transition), labelled with the code and the roles, and marks the end states', () => {
    const page = workflowDoc(AVIS_PROGRAMME);
    const edges = page.split('\n').filter((l) => l.includes(' --> '));
    const expected = AVIS_PROGRAMME.transitions.reduce((n, t) => n + t.from.length, 0);
    expect(edges.filter((l) => !l.includes('[*]'))).to.have.length(expected);
    expect(edges).to.include('    attribuee --> repondue : repondre [requis, membre-communaute]');
    expect(edges).to.include('    [*] --> demandee');
    expect(edges).to.include.members(['    cotee --> [*]', '    refusee --> [*]', '    annulee --> [*]']);
    expect(page).to.contain('state "Venue créée, CR transmis au DPI (completed / venue-creee)" as venue_creee');
    expect(page).to.contain('| `creer-venue` Créer la venue | `repondue` | `venue-creee` | `bureau-entrees` | `encounter` | `send-report-dpi` |');
  });

  it('are linked from the implementation guide', async () => {
    const guide = await readFile(new URL('../../ig/README.md', import.meta.url), 'utf8');
    for (const def of WORKFLOWS) expect(guide).to.contain(`(workflows/${def.code}.md)`);
  });
});
