// Command-line options shared by the benchmarks (--database-url, --backend, --reps) plus per-script numeric options.
import { parseArgs } from 'node:util';
import { selectedBackends, type BackendName } from './backend.js';

export interface BenchArgs<K extends string> {
  databaseUrl?: string;
  backends: BackendName[];
  reps: number;
  num: Record<K, number>;
}

/** Parses argv; `numeric` maps option names to their default values. Prints `usage` and exits on --help. */
export function parseBenchArgs<K extends string>(usage: string, numeric: Record<K, number>): BenchArgs<K> {
  const options: Record<string, { type: 'string' | 'boolean'; default?: string | boolean }> = {
    'database-url': { type: 'string' },
    backend: { type: 'string' },
    reps: { type: 'string', default: '3' },
    help: { type: 'boolean', default: false },
  };
  for (const [k, v] of Object.entries(numeric)) options[k] = { type: 'string', default: String(v) };
  const { values } = parseArgs({ args: process.argv.slice(2), options, strict: true, allowPositionals: false });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const num = {} as Record<K, number>;
  for (const k of Object.keys(numeric) as K[]) {
    const n = Number(values[k]);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${k} must be a non-negative number`);
    num[k] = n;
  }
  const databaseUrl = values['database-url'] as string | undefined;
  return {
    databaseUrl,
    backends: selectedBackends(databaseUrl, values.backend as string | undefined),
    reps: Math.max(1, Number(values.reps)),
    num,
  };
}

export const COMMON_USAGE = `  --database-url <url>   a PostgreSQL server (its user must be allowed to CREATE DATABASE); scratch databases
                         teleo_bench_* are created on it and dropped at the end
  --backend <b>          postgres | pglite | both (default: both with --database-url, else pglite)
  --reps <n>             repetitions of each measurement; medians are reported (default 3)`;
