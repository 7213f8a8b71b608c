// The server under test as a child process (`node --import tsx src/main.ts`, LOG_LEVEL=warn, a free loopback port).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { loadOrCreateDevSigningKey, signDevToken } from '../../src/http/auth/dev-keys.js';
import { sleep } from './proc.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ServerHandle {
  readonly pid: number;
  /** http://127.0.0.1:<port> */
  readonly origin: string;
  /** A development bearer token (`scope`, default user/*.cruds) signed with the server's dev issuer key. */
  readonly token: string;
  /** How the process ended, when it has (exit code, or the signal that killed it); undefined while it runs. */
  exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** The last 8000 characters the server wrote to stderr. */
  stderrTail(): string;
  stop(): Promise<void>;
}

export interface ServerOptions {
  dataDir: string;
  databaseUrl?: string;
  env?: Record<string, string>;
  /**
   * Scopes of the bench token (default user/*.cruds). The FHIR and search benches use system/*.cruds, the load of a
   * platform client: under user/ scopes the dossier visibility rule (dossier-visibility.ts) shows a user only the
   * dossiers they take part in, which their seeds do not model.
   */
  scope?: string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** How the server process ended (waiting up to 5 s for its exit, e.g. after a broken connection), with its stderr. */
export async function serverFate(server: ServerHandle): Promise<string> {
  for (let i = 0; i < 50 && !server.exitStatus(); i++) await sleep(100);
  const st = server.exitStatus();
  const how = !st ? 'the server is still running' : st.signal ? `the server was killed by ${st.signal}` : `the server exited with code ${st.code}`;
  const tail = server.stderrTail().split('\n').filter((l) => l.trim() && !l.includes('development token issuer')).slice(-30).join('\n');
  return `${how}${tail ? `; its stderr ends with:\n${tail}` : ' (nothing on stderr)'}`;
}

export async function startServer(opts: ServerOptions): Promise<ServerHandle> {
  const key = await loadOrCreateDevSigningKey(opts.dataDir);
  const token = await signDevToken({
    secret: key.secret, issuer: key.issuer, sub: 'bench', fhirUser: 'Practitioner/bench', scope: opts.scope ?? 'user/*.cruds', expiresIn: '12h',
  });
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env, DATA_DIR: opts.dataDir, HTTP_PORT: String(port), HTTP_HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...opts.env,
  };
  delete env.DATABASE_URL;
  delete env.CONFIG_FILE;
  if (opts.databaseUrl) env.DATABASE_URL = opts.databaseUrl;
  // Profiling hook, e.g. BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof": extra node flags for the server only.
  const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...extra, '--import', 'tsx', 'src/main.ts'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-8000);
  });
  const origin = `http://127.0.0.1:${port}`;
  const started = performance.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${stderr}`);
    if (performance.now() - started > 120_000) {
      child.kill('SIGKILL');
      throw new Error(`server did not answer /healthz within 120 s: ${stderr}`);
    }
    // With a timeout: a request that arrives after listen() but before the app is attached is never answered.
    const ok = await fetch(`${origin}/healthz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
    if (ok) break;
    await sleep(100);
  }
  const pid = child.pid as number;
  return {
    pid, origin, token,
    exitStatus: () => (child.exitCode !== null || child.signalCode !== null ? { code: child.exitCode, signal: child.signalCode } : undefined),
    stderrTail: () => stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited(child);
      clearTimeout(timer);
      // Only warnings and errors are logged (LOG_LEVEL=warn); the dev-issuer warning at start is expected.
      const unexpected = stderr.split('\n').filter((l) => l.trim() && !l.includes('development token issuer'));
      if (unexpected.length > 0) console.log(`server stderr (last lines):\n${unexpected.slice(-5).join('\n')}`);
    },
  };
}
