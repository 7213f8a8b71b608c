// FHIR R4 §3.1.1 Search compiled to parameterised SQL over the sp_* index tables (never scanning JSON).
import type { ParsedSearch, Predicate, SortSpec } from '../fhir/search-request.js';
import type { SearchKind } from '../fhir/search-registry.js';
import type { Prefix } from '../fhir/search-values.js';

export class SqlParams {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

/** Where a predicate is evaluated: the SQL expressions naming the resource type and id being tested. */
interface Ctx { type: string; id: string; row?: string; depth: number }

const TABLE: Record<SearchKind, string> = {
  token: 'sp_token', string: 'sp_string', reference: 'sp_reference', date: 'sp_date',
  number: 'sp_number', quantity: 'sp_quantity', uri: 'sp_uri',
};

export function likePrefix(s: string): string {
  return s.replace(/[\\%_]/g, (c) => '\\' + c) + '%';
}

function rangeSql(p: SqlParams, prefix: Prefix, lowCol: string, highCol: string, low: number, high: number): string {
  const sl = () => `${p.add(low)}::float8`;
  const sh = () => `${p.add(high)}::float8`;
  switch (prefix) {
    case 'eq': return `(${lowCol} >= ${sl()} AND ${highCol} <= ${sh()})`;
    case 'ne': return `NOT (${lowCol} >= ${sl()} AND ${highCol} <= ${sh()})`;
    case 'gt': return `${highCol} > ${sh()}`;
    case 'lt': return `${lowCol} < ${sl()}`;
    case 'ge': return `${highCol} >= ${sl()}`;
    case 'le': return `${lowCol} <= ${sh()}`;
    case 'sa': return `${lowCol} > ${sh()}`;
    case 'eb': return `${highCol} < ${sl()}`;
    case 'ap': {
      const pad = Math.max((high - low) / 2, Math.abs(low) * 0.1);
      return `(${highCol} >= ${p.add(low - pad)}::float8 AND ${lowCol} <= ${p.add(high + pad)}::float8)`;
    }
  }
}

function exists(p: SqlParams, table: string, ctx: Ctx, code: string, cond: string, alias: string): string {
  return `EXISTS (SELECT 1 FROM ${table} ${alias} WHERE ${alias}.resource_type = ${ctx.type} AND ${alias}.resource_id = ${ctx.id} AND ${alias}.code = ${p.add(code)}${cond ? ' AND ' + cond : ''})`;
}

export function predicateSql(p: SqlParams, pred: Predicate, ctx: Ctx): string {
  const a = `x${ctx.depth}`;
  const inner = (c: Ctx) => c;
  switch (pred.t) {
    case 'token': {
      const conds: string[] = [];
      if (pred.value !== undefined) conds.push(`${a}.value = ${p.add(pred.value)}`);
      if (pred.system === null) conds.push(`${a}.system IS NULL`);
      else if (pred.system !== undefined) conds.push(`${a}.system = ${p.add(pred.system)}`);
      return exists(p, 'sp_token', ctx, pred.code, conds.join(' AND '), a);
    }
    case 'tokenText':
      return exists(p, 'sp_token', ctx, pred.code, `${a}.text LIKE ${p.add(likePrefix(pred.text))}`, a);
    case 'string': {
      const cond = pred.mode === 'exact' ? `${a}.value = ${p.add(pred.value)}`
        : pred.mode === 'contains' ? `${a}.norm LIKE ${p.add('%' + likePrefix(pred.value))}`
          : `${a}.norm LIKE ${p.add(likePrefix(pred.value))}`;
      return exists(p, 'sp_string', ctx, pred.code, cond, a);
    }
    case 'reference': {
      const conds: string[] = [];
      if (pred.targetId !== undefined) conds.push(`${a}.target_id = ${p.add(pred.targetId)}`);
      if (pred.targetType !== undefined) conds.push(`${a}.target_type = ${p.add(pred.targetType)}`);
      if (pred.ref !== undefined) conds.push(`${a}.ref = ${p.add(pred.ref)}`);
      return exists(p, 'sp_reference', ctx, pred.code, conds.join(' AND '), a);
    }
    case 'date':
      return exists(p, 'sp_date', ctx, pred.code,
        rangeSql(p, pred.prefix, `${a}.low`, `${a}.high`, pred.low, pred.high), a);
    case 'number':
      return exists(p, 'sp_number', ctx, pred.code,
        rangeSql(p, pred.prefix, `${a}.value`, `${a}.value`, pred.low, pred.high), a);
    case 'quantity': {
      let cond = rangeSql(p, pred.prefix, `${a}.value`, `${a}.value`, pred.low, pred.high);
      if (pred.system) cond += ` AND ${a}.system = ${p.add(pred.system)}`;
      if (pred.unit) cond += ` AND ${a}.unit = ${p.add(pred.unit)}`;
      return exists(p, 'sp_quantity', ctx, pred.code, cond, a);
    }
    case 'uri': {
      const cond = pred.mode === 'eq' ? `${a}.value = ${p.add(pred.value)}`
        : pred.mode === 'below' ? `${a}.value LIKE ${p.add(likePrefix(pred.value))}`
          : `${p.add(pred.value)} LIKE replace(replace(replace(${a}.value, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'`;
      return exists(p, 'sp_uri', ctx, pred.code, cond, a);
    }
    case 'missing': {
      const e = exists(p, TABLE[pred.kind], ctx, pred.code, '', a);
      return pred.missing ? `NOT ${e}` : e;
    }
    case 'id':
      return `${ctx.id} = ANY(${p.add(pred.ids)}::text[])`;
    case 'lastUpdated': {
      const col = ctx.row ? `${ctx.row}.last_updated` : undefined;
      const ms = (c: string) => `(extract(epoch from ${c}) * 1000)`;
      if (col) return rangeSql(p, pred.prefix, ms(col), ms(col), pred.low, pred.high);
      const y = `y${ctx.depth}`;
      return `EXISTS (SELECT 1 FROM resource ${y} WHERE ${y}.resource_type = ${ctx.type} AND ${y}.id = ${ctx.id} AND ${rangeSql(p, pred.prefix, ms(`${y}.last_updated`), ms(`${y}.last_updated`), pred.low, pred.high)})`;
    }
    case 'chain': {
      // The target must exist (not deleted), as in memory: inner predicates such as _id, :missing=true or :not
      // would otherwise match through dangling references.
      const t0 = `t${ctx.depth}`;
      const parts = pred.targets.map((t) => {
        const tt = p.add(t.type);
        const sub = predicateSql(p, t.inner, inner({ type: tt, id: `${a}.target_id`, depth: ctx.depth + 1 }));
        return `${a}.target_type = ${tt} AND EXISTS (SELECT 1 FROM resource ${t0} WHERE ${t0}.resource_type = ${tt} AND ${t0}.id = ${a}.target_id AND NOT ${t0}.deleted) AND ${sub}`;
      });
      return exists(p, 'sp_reference', ctx, pred.code, `(${parts.join(' OR ')})`, a);
    }
    case 'has': {
      const st = p.add(pred.sourceType);
      const sub = predicateSql(p, pred.inner, { type: st, id: `${a}.resource_id`, depth: ctx.depth + 1 });
      return `EXISTS (SELECT 1 FROM sp_reference ${a} WHERE ${a}.resource_type = ${st} AND ${a}.code = ${p.add(pred.code)} AND ${a}.target_id = ${ctx.id} AND ${a}.target_type = ${ctx.type} AND ${sub})`;
    }
    case 'or':
      return `(${pred.preds.map((q) => predicateSql(p, q, ctx)).join(' OR ')})`;
    case 'not':
      return `NOT ${predicateSql(p, pred.inner, ctx)}`;
  }
}

function sortSql(p: SqlParams, s: SortSpec, typeParam: string): string {
  const dir = s.descending ? 'DESC' : 'ASC';
  if (s.kind === 'id') return `r.id COLLATE "C" ${dir}`;
  if (s.kind === 'lastUpdated') return `r.last_updated ${dir}`;
  const kind = s.kind as SearchKind;
  const col = kind === 'string' ? 'norm' : kind === 'date' ? (s.descending ? 'high' : 'low') : kind === 'reference' ? 'ref' : 'value';
  const agg = s.descending ? 'max' : 'min';
  const collate = ['norm', 'ref'].includes(col) || kind === 'token' || kind === 'uri' ? ' COLLATE "C"' : '';
  return `(SELECT ${agg}(z.${col}${collate}) FROM ${TABLE[kind]} z WHERE z.resource_type = ${typeParam} AND z.resource_id = r.id AND z.code = ${p.add(s.code)}) ${dir} NULLS LAST`;
}

type ReferencePredicate = Extract<Predicate, { t: 'reference' }>;

/** At most this many index walks are merged to drive one page query (e.g. a worklist's "owner ∈ my roles"). */
const MAX_DRIVERS = 32;

const alternativesOf = (pred: Predicate): Predicate[] => (pred.t === 'or' ? pred.preds.flatMap(alternativesOf) : [pred]);

/**
 * A top-level `reference=[Type/]id` predicate, or an `or` of such predicates (`owner=a,b` or a workflow's
 * "owner ∈ my roles OR requester = me"), that can drive the page query when results are sorted by _lastUpdated
 * only (the default): its index (migration 003) lists the referring resources of each target newest first.
 */
function drivingReference(search: ParsedSearch): { pred: Predicate; refs: ReferencePredicate[] } | undefined {
  const byLastUpdated = search.sort.length === 0 || (search.sort.length === 1 && search.sort[0].kind === 'lastUpdated');
  if (!byLastUpdated) return undefined;
  for (const pred of search.predicates) {
    const refs = alternativesOf(pred);
    if (refs.length > MAX_DRIVERS) continue;
    if (refs.every((r): r is ReferencePredicate => r.t === 'reference' && r.targetId !== undefined && r.ref === undefined)) return { pred, refs };
  }
  return undefined;
}

function whereOf(p: SqlParams, search: ParsedSearch, type: string, skip?: Predicate): string[] {
  const where = [`r.resource_type = ${type}`, 'NOT r.deleted'];
  for (const pred of search.predicates) if (pred !== skip) where.push(predicateSql(p, pred, { type, id: 'r.id', row: 'r', depth: 0 }));
  return where;
}

/**
 * The predicates tested on a driver's index rows `d` before any resource row is read: index rows exist only for the
 * current version of a live resource (rewritten on update, removed on delete), and `d.last_updated` is its last_updated.
 */
function indexWhereOf(p: SqlParams, search: ParsedSearch, type: string, skip: Predicate): string[] {
  return search.predicates.filter((pred) => pred !== skip).map((pred) => predicateSql(p, pred, { type, id: 'd.resource_id', row: 'd', depth: 0 }));
}

/** The page query (count+1 rows, to know whether a next page exists) and the count query. */
export function compileSearch(search: ParsedSearch): { sql: string; countSql: string; params: unknown[]; countParams: unknown[] } {
  const c = new SqlParams();
  const countSql = `SELECT count(*)::int AS n FROM resource r WHERE ${whereOf(c, search, c.add(search.resourceType)).join(' AND ')}`;
  const p = new SqlParams();
  const type = p.add(search.resourceType);
  const driver = drivingReference(search);
  if (driver && driver.refs.length > 1) {
    // Several alternatives: their index walks are merged newest first (UNION ALL), the other predicates are tested
    // on the index rows, and only the page's resources are read. Reading each candidate's resource row before the
    // page is cut would cost one heap fetch per candidate (e.g. 1,000 for an expert's 1,000 dossiers).
    const dir = search.sort[0]?.descending === false ? 'ASC' : 'DESC';
    const walks = driver.refs.map((ref) => {
      const dw = [`d.resource_type = ${type}`, `d.code = ${p.add(ref.code)}`, `d.target_id = ${p.add(ref.targetId)}`];
      if (ref.targetType !== undefined) dw.push(`d.target_type = ${p.add(ref.targetType)}`);
      return `(SELECT d.resource_id, d.last_updated FROM sp_reference d WHERE ${dw.join(' AND ')})`;
    });
    const dwhere = indexWhereOf(p, search, type, driver.pred);
    const order = `d.last_updated ${dir}, d.resource_id COLLATE "C"`;
    const page = `SELECT DISTINCT ON (d.last_updated, d.resource_id COLLATE "C") d.resource_id, d.last_updated FROM (${walks.join(' UNION ALL ')}) d`
      + `${dwhere.length > 0 ? ` WHERE ${dwhere.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ${p.add(search.count + 1)} OFFSET ${p.add(search.offset)}`;
    const sql = `SELECT r.content FROM (${page}) d JOIN resource r ON r.resource_type = ${type} AND r.id = d.resource_id AND NOT r.deleted ORDER BY ${order}`;
    return { sql, countSql, params: p.values, countParams: c.values };
  }
  const where = whereOf(p, search, type, driver?.pred);
  const limit = `LIMIT ${p.add(search.count + 1)} OFFSET ${p.add(search.offset)}`;
  if (driver) {
    // Walk the driver's index rows in page order (d.last_updated is r.last_updated), joining each to its resource
    // and testing the other predicates, until the page is full. DISTINCT ON drops a resource's second row for the
    // same target (e.g. a relative and an absolute reference): such rows are adjacent in that order.
    const dir = search.sort[0]?.descending === false ? 'ASC' : 'DESC';
    const ref = driver.refs[0];
    const dw = [`d.resource_type = ${type}`, `d.code = ${p.add(ref.code)}`, `d.target_id = ${p.add(ref.targetId)}`];
    if (ref.targetType !== undefined) dw.push(`d.target_type = ${p.add(ref.targetType)}`);
    const sql = `SELECT DISTINCT ON (d.last_updated, d.resource_id COLLATE "C") r.content FROM sp_reference d `
      + `JOIN resource r ON r.resource_type = d.resource_type AND r.id = d.resource_id `
      + `WHERE ${[...dw, ...where].join(' AND ')} ORDER BY d.last_updated ${dir}, d.resource_id COLLATE "C" ${limit}`;
    return { sql, countSql, params: p.values, countParams: c.values };
  }
  const order = search.sort.length > 0 ? search.sort.map((s) => sortSql(p, s, type)) : ['r.last_updated DESC'];
  order.push('r.id COLLATE "C"');
  const sql = `SELECT r.content FROM resource r WHERE ${where.join(' AND ')} ORDER BY ${order.join(', ')} ${limit}`;
  return { sql, countSql, params: p.values, countParams: c.values };
}
