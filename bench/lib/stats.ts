// Summary statistics (median, nearest-rank percentiles) and plain-text/Markdown table printing for the benchmarks.

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export interface LatencySummary { p50: number; p95: number; p99: number; max: number; mean: number }

export function summarize(latMs: readonly number[]): LatencySummary {
  const mean = latMs.reduce((a, b) => a + b, 0) / Math.max(1, latMs.length);
  return { p50: percentile(latMs, 50), p95: percentile(latMs, 95), p99: percentile(latMs, 99), max: percentile(latMs, 100), mean };
}

/** Median of each field over repetitions. */
export function medianOf<T extends object>(reps: readonly T[], key: keyof T): number {
  return median(reps.map((r) => Number(r[key])));
}

export function fmt(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function pct(ratio: number): string {
  return Number.isFinite(ratio) ? `${(ratio * 100).toFixed(1)} %` : 'n/a';
}

/** A verdict cell: "pass" / "MISS" for a measured value against a target. */
export function verdict(ok: boolean): string {
  return ok ? 'pass' : 'MISS';
}

export type Row = readonly string[];

/** Prints a Markdown table (pasteable into RESULTS.md). */
export function printTable(title: string, header: Row, rows: readonly Row[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: Row) => `| ${r.map((c, i) => (c ?? '').padEnd(widths[i])).join(' | ')} |`;
  console.log(`\n### ${title}\n`);
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  console.log('');
}

export function log(message: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}
