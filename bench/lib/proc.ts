// Linux /proc readers: a process's RSS (VmRSS) and CPU time, postgres processes' CPU, machine busy time, a 100 ms sampler.
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux x86_64 and arm64). */
const CLK_TCK = 100;

/** VmRSS of `pid` in MB; NaN once the process is gone (or a zombie: no VmRSS line). */
export function rssMb(pid: number): number {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return Number.NaN; // the process exited meanwhile
  }
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Fields of /proc/<pid>/stat after the parenthesised command name (field 3 "state" is index 0). */
function statFields(pid: number | string): { comm: string; rest: string[] } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // the process exited meanwhile
  }
  const close = text.lastIndexOf(')');
  return { comm: text.slice(text.indexOf('(') + 1, close), rest: text.slice(close + 2).split(' ') };
}

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  return f ? (Number(f.rest[11]) + Number(f.rest[12])) / CLK_TCK : Number.NaN;
}

/** CPU seconds of a PostgreSQL server: its postmaster `postmasterPid` and the live children (backends, walwriter…). */
export function postgresCpuSeconds(postmasterPid: number | undefined): number {
  if (postmasterPid === undefined) return 0;
  let total = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(name);
    if (f && (Number(name) === postmasterPid || Number(f.rest[1]) === postmasterPid)) {
      total += (Number(f.rest[11]) + Number(f.rest[12])) / CLK_TCK;
    }
  }
  return total;
}

/** Parent pid of a process (field 4 of /proc/<pid>/stat). */
export function parentPid(pid: number): number {
  return Number(statFields(pid)?.rest[1]);
}

/** Busy and total jiffies of the whole machine (first line of /proc/stat). */
function machineJiffies(): { busy: number; total: number } {
  const cols = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = cols.reduce((a, b) => a + b, 0);
  const idle = cols[3] + (cols[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

export interface CpuSnapshot { at: number; server: number; client: number; postgres: number; machine: { busy: number; total: number } }

/** The PostgreSQL server measured by `cpuSnapshot` (set once per backend; undefined for PGlite). */
let postmaster: number | undefined;
export function setPostmasterPid(pid: number | undefined): void {
  postmaster = pid;
}

export function cpuSnapshot(serverPid: number): CpuSnapshot {
  const u = process.cpuUsage();
  return {
    at: performance.now(), server: cpuSeconds(serverPid), client: (u.user + u.system) / 1e6,
    postgres: postgresCpuSeconds(postmaster), machine: machineJiffies(),
  };
}

/**
 * CPU use between two snapshots, each in % of ONE core (100 % = one core; this machine has `cores`): the server, the
 * benchmark client, the PostgreSQL server, the whole machine, and everything else (other processes, kernel threads).
 */
export interface CpuUse { serverPct: number; clientPct: number; postgresPct: number; machinePct: number; othersPct: number }

export function cpuUse(a: CpuSnapshot, b: CpuSnapshot): CpuUse {
  const wall = (b.at - a.at) / 1000;
  const serverPct = ((b.server - a.server) / wall) * 100;
  const clientPct = ((b.client - a.client) / wall) * 100;
  const postgresPct = ((b.postgres - a.postgres) / wall) * 100;
  const machinePct = ((b.machine.busy - a.machine.busy) / Math.max(1, b.machine.total - a.machine.total)) * 100 * cpus().length;
  return { serverPct, clientPct, postgresPct, machinePct, othersPct: Math.max(0, machinePct - serverPct - clientPct - postgresPct) };
}

/** Samples a process's VmRSS every `intervalMs` until stopped; reports the peak (and whether the process went away). */
export class RssSampler {
  private peak = 0;
  private min = Number.POSITIVE_INFINITY;
  private samples = 0;
  private gone = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number, intervalMs = 100) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    const v = rssMb(this.pid);
    if (Number.isFinite(v)) {
      this.peak = Math.max(this.peak, v);
      this.min = Math.min(this.min, v);
      this.samples++;
    } else {
      this.gone = true;
      clearInterval(this.timer);
    }
  }

  /**
   * The peak and the lowest sample (a baseline taken before may include garbage a GC frees during the run, e.g. the
   * throw-away WASM instance of PGlite's initdb); `gone` when the process had exited before `stop`.
   */
  stop(): { peakMb: number; minMb: number; samples: number; gone: boolean } {
    clearInterval(this.timer);
    if (!this.gone) this.sample();
    return { peakMb: this.peak, minMb: this.min, samples: this.samples, gone: this.gone };
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until the server process has used less than `maxPct` % of a core over `windowMs` (its durable audit
 * jobs drained). Returns the milliseconds waited (bounded by `timeoutMs`).
 */
export async function waitQuiet(pid: number, maxPct = 5, windowMs = 1000, timeoutMs = 300_000): Promise<number> {
  const start = performance.now();
  let prev = cpuSeconds(pid);
  while (performance.now() - start < timeoutMs) {
    await sleep(windowMs);
    const now = cpuSeconds(pid);
    if (Number.isNaN(now)) break; // the process is gone: nothing to wait for
    if (((now - prev) / (windowMs / 1000)) * 100 < maxPct) return Math.max(0, performance.now() - start - windowMs);
    prev = now;
  }
  return performance.now() - start;
}

/**
 * Waits (at most `timeoutMs`) until the whole machine is below `maxPct` % busy over one second — other jobs sharing
 * this machine would otherwise be measured too. Returns the milliseconds waited.
 */
export async function waitMachineQuiet(maxPct = 25, timeoutMs = 120_000): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    const a = machineJiffies();
    await sleep(1000);
    const b = machineJiffies();
    if (((b.busy - a.busy) / Math.max(1, b.total - a.total)) * 100 < maxPct) return performance.now() - start;
  }
  return performance.now() - start;
}
