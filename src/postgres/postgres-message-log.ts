// MessageLog on PostgreSQL/PGlite (migration 009): insert-or-duplicate in one statement, settle guarded by status.
import type { LoggedMessage, MessageFilter, MessageLog, MessageStatus } from '../store/message-log.js';
import type { SqlClient } from './sql-client.js';

interface Row {
  id: string; channel: string; partner: string | null; sender: string; control_id: string; message_type: string;
  received_at: Date; status: MessageStatus; error: string | null; ack: string | null; result: Record<string, unknown> | null;
  settled_at: Date | null; attempts: number; duplicate_of: string | null; replay_of: string | null; size: number;
}

const COLUMNS = `id::text AS id, channel, partner, sender, control_id, message_type, received_at, status, error, ack, result,
  settled_at, attempts, duplicate_of::text AS duplicate_of, replay_of::text AS replay_of, size`;

function toMessage(r: Row): LoggedMessage {
  return {
    id: r.id, channel: r.channel, ...(r.partner ? { partner: r.partner } : {}), sender: r.sender, controlId: r.control_id,
    messageType: r.message_type, receivedAt: new Date(r.received_at), status: r.status,
    ...(r.error !== null ? { error: r.error } : {}), ...(r.ack !== null ? { ack: r.ack } : {}),
    ...(r.result !== null ? { result: r.result } : {}), ...(r.settled_at ? { settledAt: new Date(r.settled_at) } : {}),
    attempts: r.attempts, ...(r.duplicate_of ? { duplicateOf: r.duplicate_of } : {}),
    ...(r.replay_of ? { replayOf: r.replay_of } : {}), size: r.size,
  };
}

export function createPostgresMessageLog(db: SqlClient): MessageLog {
  const get = async (id: string) => {
    if (!/^\d{1,18}$/.test(id)) return undefined;
    const [row] = await db.query<Row>(`SELECT ${COLUMNS} FROM message_log WHERE id = $1`, [id]);
    return row ? toMessage(row) : undefined;
  };
  const log: MessageLog = {
    async receiveMany(messages) {
      if (messages.length <= 1) return Promise.all(messages.map((m) => log.receive(m)));
      // One INSERT for all (unnest keeps their order); those that hit an earlier original go the duplicate way.
      const rows = await db.query<Row>(
        `INSERT INTO message_log (channel, partner, sender, control_id, message_type, received_at, raw, size, status, error, ack, settled_at, replay_of)
         SELECT channel, partner, sender, control_id, message_type, received_at, raw, size, status, error, ack,
           CASE WHEN status = 'rejected' THEN received_at END, replay_of::bigint
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::bytea[], $8::int[], $9::text[],
           $10::text[], $11::text[], $12::text[]) WITH ORDINALITY
           AS m(channel, partner, sender, control_id, message_type, received_at, raw, size, status, error, ack, replay_of, n) ORDER BY n
         ON CONFLICT (channel, sender, control_id) WHERE duplicate_of IS NULL AND control_id <> '' AND status <> 'rejected' DO NOTHING
         RETURNING ${COLUMNS}`,
        [messages.map((m) => m.channel), messages.map((m) => m.partner ?? null), messages.map((m) => m.sender),
          messages.map((m) => m.controlId), messages.map((m) => m.messageType), messages.map((m) => m.receivedAt.toISOString()),
          messages.map((m) => m.raw), messages.map((m) => m.raw.length), messages.map((m) => m.status ?? 'received'),
          messages.map((m) => m.error ?? null), messages.map((m) => m.ack ?? null), messages.map((m) => m.replayOf ?? null)]);
      const inserted = new Map<string, Row[]>();
      for (const r of rows) {
        const key = `${r.sender}\u0000${r.control_id}\u0000${r.status}`;
        inserted.set(key, [...(inserted.get(key) ?? []), r]);
      }
      const out: { message: LoggedMessage; original?: LoggedMessage }[] = [];
      for (const m of messages) {
        const row = inserted.get(`${m.sender}\u0000${m.controlId}\u0000${m.status ?? 'received'}`)?.shift();
        out.push(row ? { message: toMessage(row) } : await log.receive(m));
      }
      return out;
    },
    async receive(m) {
      const status = m.status ?? 'received';
      const params = [m.channel, m.partner ?? null, m.sender, m.controlId, m.messageType, m.receivedAt.toISOString(), m.raw,
        m.raw.length, status, m.error ?? null, m.ack ?? null, status === 'rejected' ? m.receivedAt.toISOString() : null, m.replayOf ?? null];
      // The original first; on a conflict with an earlier original, the same row as its duplicate (one round trip).
      const [row] = await db.query<Row>(
        `INSERT INTO message_log (channel, partner, sender, control_id, message_type, received_at, raw, size, status, error, ack, settled_at, replay_of)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (channel, sender, control_id) WHERE duplicate_of IS NULL AND control_id <> '' AND status <> 'rejected' DO NOTHING
         RETURNING ${COLUMNS}`, params);
      if (row) return { message: toMessage(row) };
      const [orig] = await db.query<Row>(
        `SELECT ${COLUMNS} FROM message_log WHERE channel = $1 AND sender = $2 AND control_id = $3 AND duplicate_of IS NULL AND status <> 'rejected'`,
        [m.channel, m.sender, m.controlId]);
      const [dup] = await db.query<Row>(
        `INSERT INTO message_log (channel, partner, sender, control_id, message_type, received_at, raw, size, status, duplicate_of, ack, settled_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'duplicate', $9, $10, $6) RETURNING ${COLUMNS}`,
        [m.channel, m.partner ?? null, m.sender, m.controlId, m.messageType, m.receivedAt.toISOString(), m.raw, m.raw.length, orig.id, orig.ack]);
      return { message: toMessage(dup), original: toMessage(orig) };
    },
    get,
    async raw(id) {
      if (!/^\d{1,18}$/.test(id)) return undefined;
      const [row] = await db.query<{ raw: Uint8Array }>('SELECT raw FROM message_log WHERE id = $1', [id]);
      return row ? Buffer.from(row.raw) : undefined;
    },
    async settle(id, s) {
      const rows = await db.query<{ id: string }>(
        `UPDATE message_log SET status = $2, ack = $3, error = $4, result = $5::jsonb, settled_at = now(), attempts = attempts + 1
         WHERE id = $1 AND status IN ('received', 'rejected') RETURNING id`,
        [id, s.status, s.ack, s.error ?? null, s.result ? JSON.stringify(s.result) : null]);
      return rows.length === 1;
    },
    async list(f: MessageFilter = {}) {
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (sql: string, v: unknown) => { params.push(v); where.push(sql.replace('?', `$${params.length}`)); };
      if (f.channel) add('channel = ?', f.channel);
      if (f.status) add('status = ?', f.status);
      if (f.partner) add('partner = ?', f.partner);
      if (f.before && /^\d{1,18}$/.test(f.before)) add('id < ?', f.before);
      params.push(Math.min(f.limit ?? 100, 1000));
      const rows = await db.query<Row>(`SELECT ${COLUMNS} FROM message_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY message_log.id DESC LIMIT $${params.length}`, params);
      return rows.map(toMessage);
    },
    async unsettled(channel, limit) {
      const rows = await db.query<Row>(`SELECT ${COLUMNS} FROM message_log WHERE channel = $1 AND status = 'received' ORDER BY message_log.id LIMIT $2`, [channel, limit]);
      return rows.map(toMessage);
    },
    async reopen(id) {
      if (!/^\d{1,18}$/.test(id)) return false;
      // A later message with the same control id went through since: this one stays rejected (unique violation).
      try {
        const rows = await db.query(`UPDATE message_log SET status = 'received' WHERE id = $1 AND status = 'rejected' RETURNING id`, [id]);
        return rows.length === 1;
      } catch (e) {
        if ((e as { code?: string }).code === '23505') return false;
        throw e;
      }
    },
  };
  return log;
}
