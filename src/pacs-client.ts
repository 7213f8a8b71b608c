// Composition of the PACS port (workflow/imaging/pacs-port.ts) from the protocol adapters, per configured PACS: query by
// C-FIND (PS3.4 C.4.1) or QIDO-RS (PS3.18 §10.6); retrieve by C-MOVE to our AE (C.4.2), C-GET (C.4.3) or WADO-RS
// (PS3.18 §10.4), every instance going through the store service.
import { findStudies } from './dicom/c-find-scu.js';
import { getStudy } from './dicom/c-get-scu.js';
import { moveStudy } from './dicom/c-move-scu.js';
import type { ScuOptions } from './dicom/dimse-scu.js';
import { searchStudies, type DicomwebOrigin } from './http/dicomweb/qido-rs-client.js';
import { retrieveStudy } from './http/dicomweb/wado-rs-client.js';
import type { InstanceStore } from './workflow/imaging/instance-store.js';
import type { PacsDefinition, PacsPort, RetrieveProgress } from './workflow/imaging/pacs-port.js';

export interface PacsClientDeps {
  /** Our AE title: the Calling AE of our associations and the C-MOVE destination. */
  readonly callingAe: string;
  readonly store: InstanceStore;
  readonly scu?: Omit<ScuOptions, 'callingAe'>;
  readonly dicomwebTimeoutMs?: number;
}

export function createPacsClient(deps: PacsClientDeps): PacsPort {
  const scu: ScuOptions = { ...deps.scu, callingAe: deps.callingAe };
  const peerOf = (pacs: PacsDefinition) => ({ aeTitle: pacs.aeTitle, host: pacs.host, port: pacs.port });
  const originOf = (pacs: PacsDefinition): DicomwebOrigin => {
    if (!pacs.dicomwebUrl) throw new Error(`PACS ${pacs.name} has no DICOMweb URL`); // refused by the configuration already
    return { url: pacs.dicomwebUrl, timeoutMs: deps.dicomwebTimeoutMs };
  };

  async function wadoRetrieve(pacs: PacsDefinition, study: string, onProgress: (p: RetrieveProgress) => void): Promise<RetrieveProgress> {
    const origin = originOf(pacs);
    // WADO-RS does not say how many instances come: ask QIDO-RS first (best effort), so that progress has a total.
    const [match] = await searchStudies(origin, { studyInstanceUid: study }).catch(() => []);
    const announced = Number(match?.['00201208']?.Value?.[0]);
    let completed = 0;
    let failed = 0;
    let warning = 0;
    const progress = (): RetrieveProgress => ({
      ...(Number.isInteger(announced) ? { total: Math.max(announced, completed + failed + warning) } : {}), completed, failed, warning,
    });
    await retrieveStudy(origin, study, async ({ meta, dataset }) => {
      const outcome = await deps.store.store({
        sopClassUid: meta.sopClassUid, sopInstanceUid: meta.sopInstanceUid, transferSyntaxUid: meta.transferSyntaxUid, dataset,
        source: { callingAe: pacs.aeTitle, calledAe: deps.callingAe, remoteAddress: new URL(origin.url).hostname },
      });
      if (outcome.kind === 'stored' || outcome.kind === 'identical') completed++;
      else if (outcome.kind === 'conflict') warning++;
      else failed++;
      onProgress(progress());
    });
    return { ...progress(), total: completed + failed + warning };
  }

  return {
    findStudies(pacs, query) {
      return pacs.query === 'qido-rs' ? searchStudies(originOf(pacs), query) : findStudies(peerOf(pacs), scu, query);
    },
    retrieveStudy(pacs, study, onProgress) {
      switch (pacs.retrieve) {
        case 'c-move': return moveStudy(peerOf(pacs), scu, deps.callingAe, study, onProgress);
        case 'c-get': return getStudy(peerOf(pacs), { ...scu, store: deps.store }, study, onProgress);
        case 'wado-rs': return wadoRetrieve(pacs, study, onProgress);
      }
    },
  };
}
