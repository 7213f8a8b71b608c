// Test harness: a real platform on port 0 (PGlite in a temp folder, or PostgreSQL when asked) and dev tokens.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { expect } from 'chai';
import { loadConfig, type Config } from '../config/config.js';
import { createLogger } from '../kernel/logger.js';
import { startPlatform, type RunningPlatform } from '../platform.js';
import { loadOrCreateDevSigningKey, signDevToken } from './auth/dev-keys.js';

export interface TestServer {
  platform: RunningPlatform;
  base: string;
  dataDir: string;
  token(opts?: { fhirUser?: string; role?: string; scope?: string; sub?: string }): Promise<string>;
  /** fetch against the FHIR base with a default full-access token (system/*.cruds: an integration client, not filtered by dossier participation). */
  fhir(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export type Backend = 'pglite' | 'postgres';

/** Creates an empty PostgreSQL database for one suite; returns its URL and a dropper. */
async function createDatabase(adminUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `teleo_http_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export async function startTestServer(backend: Backend = 'pglite', overrides: Partial<Config> = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'teleo-http-'));
  let drop: (() => Promise<void>) | undefined;
  let databaseUrl: string | undefined;
  if (backend === 'postgres') {
    const admin = process.env.TEST_DATABASE_URL;
    if (!admin) throw new Error('TEST_DATABASE_URL is required for the postgres backend');
    const db = await createDatabase(admin);
    databaseUrl = db.url;
    drop = db.drop;
  }
  const config = loadConfig({ DATA_DIR: dataDir, HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', LOG_LEVEL: 'silent', PROFILES_DIR: join(process.cwd(), 'profiles') },
    { databaseUrl, ...overrides });
  const key = await loadOrCreateDevSigningKey(dataDir);
  const server: TestServer = {
    platform: await startPlatform(config, createLogger('silent')),
    base: '',
    dataDir,
    token: (opts = {}) => signDevToken({ secret: key.secret, issuer: key.issuer, sub: opts.sub ?? 'tester',
      fhirUser: opts.fhirUser ?? 'Practitioner/tester', role: opts.role, scope: opts.scope ?? 'system/*.cruds' }),
    async fhir(path, init = {}) {
      const headers = new Headers(init.headers);
      if (init.token !== null) headers.set('Authorization', `Bearer ${init.token ?? await server.token()}`);
      if (init.body && typeof init.body === 'string' && !headers.has('Content-Type')) headers.set('Content-Type', 'application/fhir+json');
      return fetch(`${server.base}${path}`, { ...init, headers });
    },
    async restart() {
      await server.platform.stop();
      server.platform = await startPlatform({ ...config, httpPort: server.platform.port }, createLogger('silent'));
      server.base = `${server.platform.url}/fhir`;
    },
    async close() {
      await server.platform.stop();
      await drop?.();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  server.base = `${server.platform.url}/fhir`;
  return server;
}

/** The backends an HTTP suite runs on: PGlite always; PostgreSQL when TEST_DATABASE_URL is set (required in CI). */
export function httpBackends(): Backend[] {
  if (process.env.TEST_DATABASE_URL) return ['pglite', 'postgres'];
  if (process.env.CI === 'true') throw new Error('TEST_DATABASE_URL is required in CI');
  return ['pglite'];
}

/** Retries `check` until it passes (background jobs: ImagingStudy sync, notifications…), at most ~15 s. */
export async function eventually<T>(check: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await check();
    } catch (e) {
      if (i >= 150) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Creates a resource with the server's full-access token; answers its reference (`Type/id`). Expects 201. */
export async function postResource(server: TestServer, body: object): Promise<string> {
  const type = (body as { resourceType: string }).resourceType;
  const res = await server.fhir(`/${type}`, { method: 'POST', body: JSON.stringify(body) });
  expect(res.status, await res.clone().text()).to.equal(201);
  return `${type}/${((await res.json()) as { id: string }).id}`;
}
