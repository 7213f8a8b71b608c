// The start command: starts on embedded defaults, serves health, and stops gracefully on SIGTERM.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';

function waitFor(child: ReturnType<typeof spawn>, pattern: RegExp, out: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      out.push(d.toString());
      const m = pattern.exec(out.join(''));
      if (m) resolve(m[1] ?? m[0]);
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${out.join('')}`)));
  });
}

describe('npm start (src/main.ts)', () => {
  it('serves /healthz on PGlite and drains and exits 0 on SIGTERM', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'teleo-main-'));
    const out: string[] = [];
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, DATA_DIR: dataDir, HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      const url = await waitFor(child, /"http":"(http:\/\/127\.0\.0\.1:\d+)"/, out);
      const health = await fetch(`${url}/healthz`);
      expect(health.status).to.equal(200);
      expect(await health.json()).to.deep.equal({ status: 'ok' });
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).to.equal(0);
      expect(out.join('')).to.match(/"msg":"stopped"/);
    } finally {
      child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses to start with an invalid setting and names it (exit 78)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, HTTP_PORT: 'x' }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).to.equal(78);
    expect(err).to.match(/HTTP_PORT must be an integer/);
  });
});
