// The PACS setting: each problem named precisely at start; the gateway knows each PACS as an AE allowed to store.
import { expect } from 'chai';
import { ConfigError, loadConfig } from './config.js';
import { parsePacsList, withPacsPeers } from './pacs-config.js';

const base = { DATA_DIR: '/tmp/teleo-config-test', LOG_LEVEL: 'silent' };
const problemsOf = (raw: unknown): string[] => {
  const problems: string[] = [];
  parsePacsList(raw, problems);
  return problems;
};

describe('PACS configuration', () => {
  it('reads a list of PACS from the PACS setting, with defaults (query c-find, retrieve c-move)', () => {
    const config = loadConfig({ ...base, DICOM_PORT: '11112', PACS: JSON.stringify([
      { name: 'CHU Toulouse', aeTitle: 'CHU_PACS', host: '10.0.0.5', port: 104 },
      { name: 'CHIVA', aeTitle: 'CHIVA', host: 'pacs.chiva.example', port: 11112, dicomwebUrl: 'https://pacs.chiva.example/dicom-web/', query: 'qido-rs', retrieve: 'wado-rs' },
    ]) });
    expect(config.pacs).to.deep.equal([
      { name: 'CHU Toulouse', aeTitle: 'CHU_PACS', host: '10.0.0.5', port: 104, query: 'c-find', retrieve: 'c-move' },
      { name: 'CHIVA', aeTitle: 'CHIVA', host: 'pacs.chiva.example', port: 11112, dicomwebUrl: 'https://pacs.chiva.example/dicom-web', query: 'qido-rs', retrieve: 'wado-rs' },
    ]);
  });

  it('names every problem of every entry', () => {
    expect(problemsOf('[{')).to.deep.equal(['PACS is not valid JSON; expected [{ "name", "aeTitle", "host", "port", "dicomwebUrl"?, "query"?: "c-find" | "qido-rs", "retrieve": "c-move" | "c-get" | "wado-rs" }]']);
    expect(problemsOf({})[0]).to.match(/^PACS must be a JSON array/);
    expect(problemsOf([{ name: 'A', aeTitle: 'AN AE TITLE TOO LONG', host: '', port: 0, retrieve: 'c-store' }])).to.deep.equal([
      'PACS[0] (A).aeTitle must be 1 to 16 characters without backslash',
      'PACS[0] (A).host must be the PACS\'s IP address or host name',
      'PACS[0] (A).port must be its DIMSE port, an integer between 1 and 65535',
      'PACS[0] (A).retrieve must be one of c-move, c-get, wado-rs (got "c-store")',
    ]);
    expect(problemsOf([{ name: 'W', aeTitle: 'W', host: 'h', port: 1, retrieve: 'wado-rs' }])).to.deep.equal(['PACS[0] (W) uses retrieve "wado-rs": give its dicomwebUrl']);
    expect(problemsOf([{ name: 'W', aeTitle: 'W', host: 'h', port: 1, dicomwebUrl: 'ftp://x' }])).to.deep.equal(['PACS[0] (W).dicomwebUrl must be an http(s) URL (the DICOMweb service root)']);
    const twice = { name: 'D', aeTitle: 'D', host: 'h', port: 1 };
    expect(problemsOf([twice, twice])).to.deep.equal(['PACS[1] (D): another PACS has the same name']);
  });

  it('refuses a C-MOVE PACS without a DICOM listener to receive its C-STOREs', () => {
    const load = () => loadConfig({ ...base, PACS: JSON.stringify([{ name: 'M', aeTitle: 'M', host: 'h', port: 104 }]) });
    expect(load).to.throw(ConfigError, /PACS M retrieves by C-MOVE to our AE: set DICOM_PORT/);
  });

  it('lets each PACS store to our gateway: added as a known AE, or granted store when already known', () => {
    const pacs = [
      { name: 'A', aeTitle: 'PACS_A', host: '10.0.0.1', port: 104, query: 'c-find', retrieve: 'c-move' },
      { name: 'B', aeTitle: 'PACS_B', host: '10.0.0.2', port: 104, query: 'c-find', retrieve: 'c-get' },
    ] as const;
    expect(withPacsPeers([{ aeTitle: 'PACS_B', operations: ['echo'] }, { aeTitle: 'MODALITY', operations: ['store'] }], pacs)).to.deep.equal([
      { aeTitle: 'PACS_B', operations: ['echo', 'store'] },
      { aeTitle: 'MODALITY', operations: ['store'] },
      { aeTitle: 'PACS_A', host: '10.0.0.1', port: 104, operations: ['store'] },
    ]);
  });
});
