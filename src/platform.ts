// Composition root: builds stores, services and adapters from a Config, starts listeners, stops them gracefully.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Config } from './config/config.js';
import { createLogger, type Logger } from './kernel/logger.js';
import { loadDefinitions, PLATFORM_RESOURCE_TYPES } from './fhir/definitions.js';
import { createSearchRegistry } from './fhir/search-registry.js';
import { createValidator } from './fhir/validation.js';
import { openPostgresStorage } from './postgres/postgres-storage.js';
import { createFsBlobStore } from './store/fs-blob-store.js';
import type { Storage } from './store/resource-store.js';
import { createScopeAccessPolicy } from './workflow/access-policy.js';
import { AUDIT_JOB } from './workflow/audit.js';
import { createResourceService } from './workflow/resource-service.js';
import type { JobRunner } from './jobs/job-runner.js';
import { createJobLanes } from './jobs/job-lanes.js';
import { auditEventHandler } from './jobs/audit-event-job.js';
import { createJwtAuthenticator, type IssuerConfig } from './http/auth/jwt-authenticator.js';
import { loadOrCreateDevSigningKey } from './http/auth/dev-keys.js';
import { createApp } from './http/app.js';
import { taskTransitionOperation } from './http/task-transition-operation.js';
import { createTeledossierOperation } from './http/create-teledossier-operation.js';
import { statsOperation } from './http/stats-operation.js';
import { createTaskStatusGuard } from './workflow/teleexpertise/task-status-guard.js';
import { createDossierContentGuard, dossierImmutabilityHook } from './workflow/teleexpertise/dossier-immutability.js';
import { createDossierVisibility } from './workflow/teleexpertise/dossier-visibility.js';
import { createReadReceiptGuard, createReadReceipts } from './workflow/teleexpertise/read-receipts.js';
import { createStepGuard } from './workflow/teleexpertise/step-guard.js';
import { recordRequisOrganization } from './workflow/teleexpertise/requis-organization.js';
import { worklistOperation } from './http/worklist-operation.js';
import { wakeOnCommit } from './jobs/wake-on-commit.js';
import { createNotifications, NOTIFICATION_JOB_TYPES, notificationsConfigOf } from './notifications/notification-jobs.js';
import { subscriptionResendOperation } from './http/subscription-resend-operation.js';
import { startDimseGateway, type DimseGateway } from './dicom/dimse-gateway.js';
import { createPacsClient } from './pacs-client.js';
import { withPacsPeers } from './config/pacs-config.js';
import { createPacsQueryRetrieve, PACS_RETRIEVE_JOB } from './workflow/imaging/pacs-query-retrieve.js';
import { pacsQueryOperation, pacsRetrieveOperation } from './http/pacs-query-retrieve-operation.js';
import { createPostgresInstanceIndex } from './postgres/postgres-instance-index.js';
import { createInstanceStore } from './workflow/imaging/instance-store.js';
import { createStudyForwarding, FORWARD_TRIGGER_JOB } from './workflow/imaging/study-forwarding.js';
import { forwardingTrigger, forwardingTriggerHandler } from './workflow/imaging/forwarding-trigger.js';
import { createDimseStudySender } from './dicom/c-store-scu.js';
import { forwardStudyOperation } from './http/forward-study-operation.js';
import { createImagingStudySync, createStudySyncEnqueuer, dicomwebBaseOf, IMAGING_STUDY_SYNC_JOB, STUDY_SYNC_DEBOUNCE_MS } from './workflow/imaging/imaging-study-sync.js';
import { dicomImportRouter } from './http/dicom-import.js';
import { createStudyAccess } from './workflow/imaging/study-access.js';
import { createPixelDecoder } from './imaging/pixel-data-decoding.js';
import { renderedRouter, renderWadoUri } from './http/dicomweb/rendered.js';
import { createExamOperation } from './http/create-exam-operation.js';
import { stowRsRouter } from './http/dicomweb/stow-rs.js';
import { dicomQuarantineRouter } from './http/dicom-quarantine.js';
import { dicomwebReadRouter } from './http/dicomweb/dicomweb-read-router.js';
import { createInboundProcessor } from './hl7v2/inbound-processing.js';
import { startMllpListener, type MllpListener } from './hl7v2/mllp-listener.js';
import { createHl7Sender, enqueueHl7, HL7_SEND_JOB } from './hl7v2/mllp-sender.js';
import { hl7Routes } from './hl7v2/hl7-routes.js';
import { checkStructure } from './hl7v2/hl7-structures.js';
import { orderResponseHandlers } from './hl7v2/order-response-trigger.js';
import { reportChangeTrigger, reportSenderHandlers } from './hl7v2/report-trigger.js';
import { hl7MessagesRouter } from './http/hl7-messages.js';

export interface RunningPlatform {
  readonly url: string;
  readonly port: number;
  readonly storage: Storage;
  readonly jobs: JobRunner;
  readonly logger: Logger;
  /** The DIMSE listener's port, when DICOM_PORT is set. */
  readonly dicomPort?: number;
  /** The MLLP listener's port, when MLLP_PORT is set. */
  readonly mllpPort?: number;
  stop(): Promise<void>;
}

async function packageVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function startPlatform(config: Config, logger: Logger = createLogger(config.logLevel)): Promise<RunningPlatform> {
  await mkdir(config.dataDir, { recursive: true });
  const defs = loadDefinitions(config.profilesDir);
  const registry = createSearchRegistry(PLATFORM_RESOURCE_TYPES);
  const { storage: opened, db } = await openPostgresStorage(registry, {
    databaseUrl: config.databaseUrl,
    pgliteDir: config.databaseUrl ? undefined : join(config.dataDir, 'pglite'),
    maxConnections: config.dbPoolSize,
  });
  logger.info('storage open', { engine: config.databaseUrl ? 'postgresql' : 'pglite' });
  // Notification jobs wake the job runner once committed: event → delivery in milliseconds, not a poll interval.
  const wakeable: { runner?: JobRunner } = {};
  const storage = wakeOnCommit(opened, (type) => NOTIFICATION_JOB_TYPES.has(type), () => wakeable.runner?.wake());
  const blobs = await createFsBlobStore(join(config.dataDir, 'blobs'));

  const issuers: IssuerConfig[] = [...config.issuers];
  if (config.devIssuer) {
    const dev = await loadOrCreateDevSigningKey(config.dataDir);
    issuers.push({ issuer: dev.issuer, secret: dev.secret });
    logger.warn('development token issuer enabled (AUTH_DEV_ISSUER=true): do not use in production', { issuer: dev.issuer });
  }
  const authenticator = await createJwtAuthenticator(issuers);
  const validator = createValidator(defs.profiles, config.requiredProfiles);
  const searchDefaults = { defaultCount: config.searchDefaultCount, maxCount: config.searchMaxCount };
  const visibility = createDossierVisibility(registry);
  const notifications = createNotifications({ storage, registry, logger, config: notificationsConfigOf(config) });
  const svc = createResourceService({
    storage, registry, validator, access: createScopeAccessPolicy(), logger, searchDefaults,
    writeGuards: [createTaskStatusGuard(), createDossierContentGuard(), createReadReceiptGuard(), createStepGuard(), ...notifications.writeGuards],
    visibility,
    prepareWrite: [recordRequisOrganization(), ...notifications.prepareWrite],
    afterWrite: [visibility.afterWrite, dossierImmutabilityHook(registry), ...notifications.afterWrite, forwardingTrigger(config.dicomForwarding), reportChangeTrigger()],
  });

  // ImagingStudy kept in step with the DICOM instance index (the FHIR base is known once the listener is bound).
  const instanceIndex = createPostgresInstanceIndex(db);
  const bound: { fhirBase?: string } = {};
  const studySync = createImagingStudySync({
    svc, index: instanceIndex, fhirBase: () => bound.fhirBase ?? '', logger: logger.child({ component: 'imaging' }), aeRoutes: config.dicomAeRoutes,
  });
  // Studies sent to configured PACS (C-STORE) as durable jobs, by ImagingStudy/$forward or a workflow's rule.
  const forwarding = createStudyForwarding({
    svc, index: instanceIndex, blobs, logger: logger.child({ component: 'forwarding' }), quietMs: config.dicomForwardingQuietSeconds * 1000,
    sender: createDimseStudySender({ aeTitle: config.dicomAeTitle, knownAes: config.dicomKnownAes }),
  });
  // HL7 v2 messages to partners (RIS, DPI): one kept-open MLLP connection per partner, ACK awaited per message.
  const hl7Tls = config.hl7TlsCaFile ? { ca: await readFile(config.hl7TlsCaFile),
    ...(config.hl7TlsKeyFile && config.hl7TlsCertFile ? { key: await readFile(config.hl7TlsKeyFile), cert: await readFile(config.hl7TlsCertFile) } : {}) } : undefined;
  const hl7Identity = { application: config.hl7Application, facility: config.hl7Facility };
  const hl7Sender = createHl7Sender({ partners: config.hl7Partners, logger: logger.child({ component: 'hl7v2' }), ackTimeoutMs: config.hl7AckTimeoutMs, tls: hl7Tls });
  // Three lanes: the platform's own short jobs, HL7 sends (a partner slow to ACK delays no one else), and transfers
  // to and from PACS (seconds to minutes each).
  const jobs = createJobLanes(storage.jobs, [
    { name: 'platform', handlers: { [AUDIT_JOB]: auditEventHandler(storage), ...notifications.handlers, [IMAGING_STUDY_SYNC_JOB]: studySync.handler, [FORWARD_TRIGGER_JOB]: forwardingTriggerHandler(forwarding) } },
    { name: 'hl7v2', handlers: { [HL7_SEND_JOB]: hl7Sender.handler,
      ...orderResponseHandlers({ svc, partners: config.hl7Partners, identity: hl7Identity, logger: logger.child({ component: 'hl7v2' }) }),
      ...reportSenderHandlers({ svc, partners: config.hl7Partners, identity: hl7Identity, logger: logger.child({ component: 'hl7v2' }) }) } },
    { name: 'transfers', handlers: { [PACS_RETRIEVE_JOB]: (job) => pacsQueryRetrieve.run(job), ...forwarding.handlers } },
  ], logger.child({ component: 'jobs' }));
  wakeable.runner = jobs;
  // The store service every imaging adapter (C-STORE, file import…) ingests through.
  // Woken at once (audit) and again when the debounced ImagingStudy update of the instance's study is due.
  const instanceStore = createInstanceStore({
    blobs, index: instanceIndex, onStored: createStudySyncEnqueuer(),
    onCommitted: () => {
      jobs.wake();
      setTimeout(() => jobs.wake(), STUDY_SYNC_DEBOUNCE_MS + 5).unref();
    },
  });
  // Query/retrieve from the hospital PACS for a télédossier: C-FIND/QIDO-RS, then C-MOVE/C-GET/WADO-RS as a durable job.
  const pacsQueryRetrieve = createPacsQueryRetrieve({
    svc, pacs: config.pacs, syncStudy: studySync.sync, logger: logger.child({ component: 'pacs' }),
    port: createPacsClient({ callingAe: config.dicomAeTitle, store: instanceStore }),
  });
  // Who may read which study over DICOMweb, and the audit of each read.
  const studyAccess = createStudyAccess(svc);
  // Pixel Data decoders (WebAssembly codecs instantiated on first use) for rendered images and thumbnails.
  const pixelDecoder = createPixelDecoder();

  // Until the app is attached (it needs the bound port for its base URL), requests get a 503 instead of hanging.
  const attached: { handler?: (req: IncomingMessage, res: ServerResponse) => void } = {};
  const server: Server = createServer((req, res) => (attached.handler ? attached.handler(req, res) : res.writeHead(503).end()));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.httpPort, config.httpHost, () => resolve());
  });
  server.keepAliveTimeout = 65_000;
  // Node's default requestTimeout (300 s for a whole request) answers 408 to any upload slower than that: a 1 GiB
  // STOW-RS or CD-ROM import below 3.5 MB/s. Bodies are bounded by the size limits; headers by headersTimeout (60 s).
  server.requestTimeout = 0;
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const baseUrl = config.baseUrl ?? `http://localhost:${port}/fhir`;
  bound.fhirBase = baseUrl;

  const profilesByType: Record<string, string[]> = {};
  for (const sd of defs.profiles.values()) if (sd.type && sd.url) (profilesByType[sd.type] ??= []).push(sd.url);
  // QIDO-RS, WADO-RS and WADO-URI (one router: its frame offsets cache is shared by both mount points).
  const dicomwebReads = dicomwebReadRouter({
    index: instanceIndex, blobs, access: studyAccess, dicomwebBase: () => dicomwebBaseOf(baseUrl),
    renderWadoUri: (instance, query, mediaType) => renderWadoUri({ blobs, decoder: pixelDecoder }, instance, query, mediaType),
  });
  // HL7 v2 inbound: every message stored raw before its ACK, applied once, rejected ones kept for replay.
  const hl7Processor = createInboundProcessor({
    svc, routes: hl7Routes(), partners: config.hl7Partners, identity: hl7Identity, baseUrl, logger: logger.child({ component: 'hl7v2' }),
    acceptUnknownSenders: config.hl7AcceptUnknownSenders, checks: [checkStructure],
    sendApplicationAck: (partner, ack, controlId) => enqueueHl7(storage.jobs, {
      partner: partner.name, controlId: /^MSH\|[^|]*(?:\|[^|]*){7}\|([^|\r]*)/.exec(ack)?.[1] ?? controlId, message: ack, summary: `application ACK of ${controlId}`,
    }),
  });
  const { app, capabilityStatement } = createApp({
    svc, blobs, authenticator, logger, baseUrl, maxJsonBytes: config.maxJsonBytes,
    maxBinaryBytes: config.maxBinaryBytes, searchDefaults, profiles: profilesByType, version: await packageVersion(),
    operations: [taskTransitionOperation(svc, baseUrl), createTeledossierOperation(svc, baseUrl), statsOperation(svc), subscriptionResendOperation(notifications.resend),
      worklistOperation(svc, baseUrl, (principal) => visibility.party(principal, storage)),
      pacsQueryOperation(pacsQueryRetrieve), pacsRetrieveOperation(pacsQueryRetrieve), forwardStudyOperation(forwarding, baseUrl),
      createExamOperation(svc, instanceStore, config.dicomAeTitle, { maxFileBytes: Math.min(config.maxBinaryBytes, 64 * 2 ** 20), maxTotalBytes: Math.min(config.maxBinaryBytes, 256 * 2 ** 20) })],
    afterRead: [createReadReceipts(svc, logger)],
    health: async () => { await db.query('SELECT 1'); },
    routers: [{ path: '/imaging/import', router: dicomImportRouter({ svc, store: instanceStore, spoolDir: join(config.dataDir, 'import-spool'),
      calledAe: config.dicomAeTitle, maxUploadBytes: config.maxBinaryBytes, logger: logger.child({ component: 'import' }) }) },
    { path: '/dicomweb', router: renderedRouter({ access: studyAccess, index: instanceIndex, blobs, decoder: pixelDecoder }) },
    { path: '/dicomweb', router: dicomwebReads }, { path: '/wado', router: dicomwebReads },
    { path: '/dicomweb', router: stowRsRouter({ svc, store: instanceStore, aeTitle: config.dicomAeTitle, dicomwebBase: () => dicomwebBaseOf(baseUrl), logger: logger.child({ component: 'stow-rs' }) }) },
    { path: '/operator/hl7', router: hl7MessagesRouter({ svc, processor: hl7Processor }) },
    { path: '/operator/dicom-quarantine', router: dicomQuarantineRouter({ svc, index: instanceIndex, blobs, store: instanceStore }) }],
  });
  notifications.advertise(capabilityStatement, baseUrl);
  await notifications.connect({ svc, baseUrl, server, authenticate: (h) => authenticator.authenticate(h) });
  await jobs.start();
  attached.handler = app;
  // DICOM C-ECHO/C-STORE/C-FIND listener (disabled unless DICOM_PORT is set); audit jobs go through the same queue.
  const dicom: DimseGateway | undefined = config.dicomPort === undefined ? undefined : await startDimseGateway({
    port: config.dicomPort, aeTitle: config.dicomAeTitle, knownAes: withPacsPeers(config.dicomKnownAes, config.pacs),
    acceptUnknownAes: config.dicomAcceptUnknownAes, maxAssociations: config.dicomMaxAssociations,
    otherAeTitles: config.dicomAeRoutes.map((r) => r.aeTitle),
    store: instanceStore, index: instanceIndex, blobs,
    tls: config.dicomTlsKeyFile && config.dicomTlsCertFile ? {
      key: await readFile(config.dicomTlsKeyFile), cert: await readFile(config.dicomTlsCertFile),
      ...(config.dicomTlsCaFile ? { ca: await readFile(config.dicomTlsCaFile), requestCert: true, rejectUnauthorized: true } : {}),
    } : undefined,
    logger: logger.child({ component: 'dicom' }),
  });
  // Messages stored before a crash but not applied are applied first, in order; then the MLLP listener opens.
  const resumed = await hl7Processor.resume();
  if (resumed) logger.info('hl7 messages applied after restart', { count: resumed });
  const mllp: MllpListener | undefined = config.mllpPort === undefined ? undefined : await startMllpListener({
    port: config.mllpPort, host: config.httpHost, processor: hl7Processor, logger: logger.child({ component: 'hl7v2' }),
    maxMessageBytes: config.hl7MaxMessageBytes, maxConnections: config.hl7MaxConnections,
    tls: config.hl7TlsKeyFile && config.hl7TlsCertFile ? {
      key: await readFile(config.hl7TlsKeyFile), cert: await readFile(config.hl7TlsCertFile),
      ...(config.hl7TlsCaFile ? { ca: await readFile(config.hl7TlsCaFile), requestCert: true, rejectUnauthorized: true } : {}),
    } : undefined,
  });
  logger.info('listening', { http: url, fhir: baseUrl });

  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= (async () => {
    logger.info('shutting down: no new connections, draining requests');
    await notifications.disconnect();
    await dicom?.close();
    await mllp?.close();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const timeout = new Promise<void>((resolve) => setTimeout(() => { server.closeAllConnections(); resolve(); }, config.shutdownTimeoutMs).unref());
    await Promise.race([closed, timeout]);
    await jobs.stop();
    await jobs.drain().catch((e: unknown) => logger.warn('final job drain failed', { error: String(e) }));
    await forwarding.close();
    await hl7Sender.close();
    await notifications.close();
    await storage.close();
    logger.info('stopped');
  })());
  return { url, port, storage, jobs, logger, dicomPort: dicom?.port, mllpPort: mllp?.port, stop };
}
