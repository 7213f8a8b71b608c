// Test fixture (not shipped): the FHIR REST calls a DPI makes for a professional in the téléexpertise scenarios —
// read/search/write as that user (their own bearer token), $create-teledossier, Task/$transition, Task/$worklist —
// plus the platform-side checks (notifications after draining the job runner, queued outbound jobs).
import { expect } from 'chai';
import type { Bundle, Communication, Parameters, ParametersParameter, Resource, Task } from '@medplum/fhirtypes';
import type { Job } from '../store/job-queue.js';
import type { TestServer } from './test-server.js';
import type { Actor } from './test-regional-directory.js';

export interface Answer<T = Resource> { status: number; body: T }

/** Who calls: a professional (their user token), or a system client (the server's default system/*.cruds token). */
export type Caller = Actor | 'system';

export interface DossierClient {
  call<T = Resource>(who: Caller, method: string, path: string, body?: object): Promise<Answer<T>>;
  /** A call that must answer `status`; returns the body. */
  expectStatus<T = Resource>(status: number, who: Caller, method: string, path: string, body?: object): Promise<T>;
  /** Searches as `who`; returns the Bundle (200 expected). */
  search(who: Caller, query: string): Promise<Bundle>;
  createTeledossier(who: Caller, parameter: ParametersParameter[]): Promise<Task>;
  transition(who: Caller, task: Task | string, code: string, extra?: Record<string, string>): Promise<Answer<Task>>;
  /** The ids of the Tasks in `who`'s worklist (search mode match). */
  worklist(who: Actor, query: string): Promise<string[]>;
  /** Runs every due job, then the user notifications (Communication category notification) about `task`. */
  notifications(task: Task | string): Promise<Communication[]>;
  /** The outbound jobs of `type` queued for `task`. */
  jobsFor(type: string, task: Task | string): Promise<Job[]>;
}

const idOf = (t: Task | string) => (typeof t === 'string' ? t : (t.id as string));
export const matches = (b: Bundle) => (b.entry ?? []).filter((e) => e.search?.mode !== 'include').map((e) => e.resource as Resource);
export const included = (b: Bundle) => (b.entry ?? []).filter((e) => e.search?.mode === 'include').map((e) => e.resource as Resource);

export function dossierClient(server: TestServer): DossierClient {
  const client: DossierClient = {
    async call<T = Resource>(who: Caller, method: string, path: string, body?: object): Promise<Answer<T>> {
      const res = await server.fhir(path, {
        method, ...(body ? { body: JSON.stringify(body) } : {}), ...(who === 'system' ? {} : { token: who.token }),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
    },
    async expectStatus<T = Resource>(status: number, who: Caller, method: string, path: string, body?: object): Promise<T> {
      const answer = await client.call<T>(who, method, path, body);
      expect(answer.status, `${method} ${path}: ${JSON.stringify(answer.body)}`).to.equal(status);
      return answer.body;
    },
    search: (who, query) => client.expectStatus<Bundle>(200, who, 'GET', `/${query}`),
    async createTeledossier(who, parameter) {
      const out = await client.expectStatus<Parameters>(201, who, 'POST', '/Task/$create-teledossier', { resourceType: 'Parameters', parameter });
      return out.parameter?.find((p) => p.name === 'task')?.resource as Task;
    },
    transition: (who, task, code, extra = {}) => client.call<Task>(who, 'POST', `/Task/${idOf(task)}/$transition`, {
      resourceType: 'Parameters',
      parameter: [{ name: 'transition', valueCode: code }, ...Object.entries(extra).map(([name, value]) => ({ name, valueString: value }))],
    }),
    async worklist(who, query) {
      const bundle = await client.expectStatus<Bundle>(200, who, 'GET', `/Task/$worklist?${query}`);
      return matches(bundle).map((r) => r.id as string);
    },
    async notifications(task) {
      await server.platform.jobs.drain();
      const bundle = await client.search('system', `Communication?part-of=Task/${idOf(task)}&category=notification&_count=100`);
      return matches(bundle) as Communication[];
    },
    async jobsFor(type, task) {
      return (await server.platform.storage.jobs.list({ type })).filter((j) => j.payload.task === `Task/${idOf(task)}`);
    },
  };
  return client;
}

/** The recipients of the notifications, one entry per Communication, sorted. */
export const recipientsOf = (communications: Communication[]) =>
  communications.flatMap((c) => (c.recipient ?? []).map((r) => r.reference as string)).sort();
