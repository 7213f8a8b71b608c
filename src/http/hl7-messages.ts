// The operator's HTTP API over the HL7 v2 message log (inbound, §2.9) and outbound jobs:
//   GET  /operator/hl7/messages?status=&partner=&before=&limit=   inbound messages, newest first (status=rejected: dead letters)
//   GET  /operator/hl7/messages/{id}                              one message with its text, ACK and outcome
//   GET  /operator/hl7/messages/{id}/raw                          its bytes exactly as received
//   POST /operator/hl7/messages/{id}/replay                       applies a rejected message again (after a fix)
//   GET  /operator/hl7/outbound?status=                           outbound messages (durable jobs): status, attempts, last error
// Messages carry patient identity: reading needs Patient read, replaying Task write; every access is audited.
import express, { type Response, type Router } from 'express';
import { errors } from '../kernel/errors.js';
import type { JobStatus } from '../store/job-queue.js';
import type { LoggedMessage, MessageStatus } from '../store/message-log.js';
import { queueAudit, type AuditContext } from '../workflow/audit.js';
import type { ResourceService } from '../workflow/resource-service.js';
import { HL7_CHANNEL, type InboundProcessor } from '../hl7v2/inbound-processing.js';
import { HL7_SEND_JOB, type Hl7SendPayload } from '../hl7v2/mllp-sender.js';
import { route } from './fhir-http.js';

const STATUSES: readonly MessageStatus[] = ['received', 'applied', 'rejected', 'duplicate'];
const JOB_STATUSES: readonly JobStatus[] = ['pending', 'running', 'done', 'failed'];
const ref = (id: string) => `urn:teleo:hl7v2-message:${id}`;

export interface Hl7MessagesRouterDeps {
  readonly svc: ResourceService;
  readonly processor: InboundProcessor;
}

function view(m: LoggedMessage, base: string): Record<string, unknown> {
  return { ...m, links: { self: `${base}/messages/${m.id}`, raw: `${base}/messages/${m.id}/raw`, ...(m.status === 'rejected' ? { replay: `${base}/messages/${m.id}/replay` } : {}) } };
}

export function hl7MessagesRouter(deps: Hl7MessagesRouterDeps): Router {
  const { svc } = deps;
  const router = express.Router();
  const ctxOf = (res: Response): AuditContext => res.locals.ctx as AuditContext;
  const audit = (ctx: AuditContext, interaction: string, action: 'R' | 'E' | 'U', entities: string[], query?: string) =>
    queueAudit(svc.jobs, ctx, { interaction, action, entities, ...(query ? { query } : {}) });
  const find = async (id: string) => {
    const m = await svc.messages.get(id);
    if (!m || m.channel !== HL7_CHANNEL) throw errors.notFound(`No HL7 message ${id}`);
    return m;
  };

  router.get('/messages', route(async (req, res) => {
    const ctx = ctxOf(res);
    svc.authorize(ctx, 'read', 'Patient');
    const status = req.query.status as string | undefined;
    if (status !== undefined && !STATUSES.includes(status as MessageStatus)) throw errors.badRequest(`status must be one of ${STATUSES.join(', ')}`);
    const limit = req.query.limit === undefined ? 50 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw errors.badRequest('limit must be an integer from 1 to 1000');
    const before = typeof req.query.before === 'string' ? req.query.before : undefined;
    const partner = typeof req.query.partner === 'string' ? req.query.partner : undefined;
    const entries = await svc.messages.list({ channel: HL7_CHANNEL, status: status as MessageStatus | undefined, partner, before, limit });
    await audit(ctx, 'search-type', 'E', entries.map((m) => ref(m.id)), `operator/hl7/messages?${new URLSearchParams(req.query as Record<string, string>).toString()}`);
    const last = entries.at(-1);
    const next = entries.length === limit && last
      ? `${req.baseUrl}/messages?${new URLSearchParams({ ...(status ? { status } : {}), ...(partner ? { partner } : {}), limit: String(limit), before: last.id }).toString()}`
      : undefined;
    res.status(200).json({ entries: entries.map((m) => view(m, req.baseUrl)), ...(next ? { next } : {}) });
  }));

  router.get('/messages/:id', route(async (req, res) => {
    const ctx = ctxOf(res);
    svc.authorize(ctx, 'read', 'Patient');
    const m = await find(req.params.id);
    const raw = await svc.messages.raw(m.id);
    await audit(ctx, 'read', 'R', [ref(m.id)]);
    // The text as latin1 never fails; the raw bytes link gives them exactly.
    const text = raw ? (raw.toString('utf8').includes('\uFFFD') ? raw.toString('latin1') : raw.toString('utf8')) : undefined;
    res.status(200).json({ ...view(m, req.baseUrl), text: text?.replace(/\r/g, '\n') });
  }));

  router.get('/messages/:id/raw', route(async (req, res) => {
    const ctx = ctxOf(res);
    svc.authorize(ctx, 'read', 'Patient');
    const m = await find(req.params.id);
    const raw = await svc.messages.raw(m.id);
    await audit(ctx, 'read', 'R', [ref(m.id)]);
    res.status(200).setHeader('Content-Type', 'application/hl7-v2');
    res.setHeader('Content-Disposition', `attachment; filename="hl7-${m.id}.hl7"`);
    res.end(raw);
  }));

  router.post('/messages/:id/replay', route(async (req, res) => {
    const ctx = ctxOf(res);
    svc.authorize(ctx, 'update', 'Task');
    await find(req.params.id);
    const settled = await deps.processor.replay(req.params.id);
    await audit(ctx, 'operation', 'E', [ref(settled.id)], `operator/hl7/messages/${settled.id}/replay`);
    res.status(200).json(view(settled, req.baseUrl));
  }));

  router.get('/outbound', route(async (req, res) => {
    const ctx = ctxOf(res);
    svc.authorize(ctx, 'read', 'Patient');
    const status = req.query.status as string | undefined;
    if (status !== undefined && !JOB_STATUSES.includes(status as JobStatus)) throw errors.badRequest(`status must be one of ${JOB_STATUSES.join(', ')}`);
    const jobs = await svc.jobs.list({ type: HL7_SEND_JOB, ...(status ? { status: status as JobStatus } : {}) });
    await audit(ctx, 'search-type', 'E', jobs.map((j) => `urn:teleo:job:${j.id}`), 'operator/hl7/outbound');
    res.status(200).json({
      entries: jobs.map((j) => {
        const p = j.payload as Hl7SendPayload;
        return { id: j.id, partner: p.partner, controlId: p.controlId, summary: p.summary, status: j.status, attempts: j.attempts,
          nextAttempt: j.status === 'pending' ? j.runAt : undefined, lastError: j.lastError, message: p.message.replace(/\r/g, '\n') };
      }),
    });
  }));
  return router;
}
