// The reporting period of the statistics (FHIR R4 MeasureReport.period): dates read in the platform's time zone.
import { errors } from '../../kernel/errors.js';
import { dateRange } from '../../fhir/search-values.js';

const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/** How far `instant`'s wall clock in `timeZone` is ahead of UTC, in ms. */
function offsetMs(timeZone: string, instant: number): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(instant));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) - Math.floor(instant / 1000) * 1000;
}

/** The instant a local calendar day starts in `timeZone` (two passes settle daylight-saving changes). */
function zonedMidnight(timeZone: string, year: number, month0: number, day: number): number {
  const wall = Date.UTC(year, month0, day);
  const first = wall - offsetMs(timeZone, wall);
  return wall - offsetMs(timeZone, first);
}

/**
 * The instants [low, highExclusive) a FHIR date or dateTime covers: a date (`2024`, `2024-03`, `2024-03-31`) is
 * the whole local year, month or day in `timeZone`; a dateTime must carry its zone (FHIR R4 §2.24.0.1).
 */
export function instantRange(value: string, timeZone: string, name: string): { low: number; high: number } {
  const m = DATE.exec(value);
  if (m) {
    const [, y, mo, d] = m;
    const year = Number(y);
    const month0 = mo ? Number(mo) - 1 : 0;
    const day = d ? Number(d) : 1;
    const check = new Date(Date.UTC(year, month0, day));
    if (check.getUTCMonth() !== month0 || check.getUTCDate() !== day) throw errors.badRequest(`${name} is not a valid date: ${value}`, name);
    const next = !mo ? [year + 1, 0, 1] : !d ? [year, month0 + 1, 1] : [year, month0, day + 1];
    return { low: zonedMidnight(timeZone, year, month0, day), high: zonedMidnight(timeZone, next[0], next[1], next[2]) };
  }
  const r = DATE_TIME.test(value) ? dateRange(value) : undefined;
  if (!r) throw errors.badRequest(`${name} must be a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD) or a dateTime with a time zone: ${value}`, name);
  return { low: r.low, high: r.high + 1 };
}

/** [start, end) of a reporting period whose both bounds are inclusive (MeasureReport.period). */
export function reportingPeriod(start: string | undefined, end: string | undefined, timeZone: string): { start: number; end: number } {
  if (!start) throw errors.badRequest('period-start is required', 'period-start');
  if (!end) throw errors.badRequest('period-end is required', 'period-end');
  const s = instantRange(start, timeZone, 'period-start').low;
  const e = instantRange(end, timeZone, 'period-end').high;
  if (!(s < e)) throw errors.badRequest(`period-start (${start}) must come before period-end (${end})`);
  return { start: s, end: e };
}
