// The platform with DICOM_PORT set: a C-STORE from dcmtk is indexed, its blob kept, and its AuditEvent written by the job runner.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '@medplum/fhirtypes';
import { expect } from 'chai';
import { loadConfig } from '../config/config.js';
import { createLogger } from '../kernel/logger.js';
import { startPlatform } from '../platform.js';
import { searchOf } from '../store/test-storages.js';
import { describeWithDicomPeers, echoscu, storescu, writeGeneratedDicom } from './test-dicom-peers.js';

describeWithDicomPeers('platform DICOM listener (DICOM_PORT)', function () {
  this.timeout(60_000);

  it('is off without DICOM_PORT', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'teleo-dicom-off-'));
    const platform = await startPlatform(loadConfig({ DATA_DIR: dataDir, HTTP_PORT: '0', HTTP_HOST: '127.0.0.1' }), createLogger('silent'));
    try {
      expect(platform.dicomPort).to.equal(undefined);
    } finally {
      await platform.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('stores a C-STORE from a configured AE and writes its AuditEvent', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'teleo-dicom-'));
    const platform = await startPlatform(loadConfig({
      DATA_DIR: dataDir, HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', DICOM_PORT: '0', DICOM_AE_TITLE: 'TELEO',
      DICOM_KNOWN_AES: JSON.stringify([{ aeTitle: 'MODALITY', host: '127.0.0.1', operations: ['echo', 'store'] }]),
    }), createLogger('silent'));
    try {
      const port = platform.dicomPort as number;
      expect((await echoscu(port, 'STRANGER')).output).to.contain('Calling AE Title Not Recognized');
      const file = join(dataDir, 'instance.dcm');
      const { sopInstanceUid } = await writeGeneratedDicom(file);
      expect((await storescu(port, file)).response).to.equal('Success');
      await platform.jobs.drain();
      const { resources } = await platform.storage.resources.search(searchOf('AuditEvent', '_count=100'));
      const audited = (resources as AuditEvent[]).filter((e) => e.entity?.some((x) => x.what?.reference === `urn:oid:${sopInstanceUid}`));
      expect(audited).to.have.length(1);
      expect(audited[0].agent[0].altId).to.equal('dicom:MODALITY');
    } finally {
      await platform.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
