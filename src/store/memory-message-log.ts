// In-memory twin of the message log (same contract as postgres-message-log.ts).
import type { LoggedMessage, MessageLog } from './message-log.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
export interface MemoryMessageState { rows: (Mutable<LoggedMessage> & { raw: Buffer })[]; seq: number }

const copy = (r: MemoryMessageState['rows'][number]): LoggedMessage => {
  const { raw: _raw, ...rest } = r;
  return structuredClone(rest);
};

export function createMemoryMessageLog(state: MemoryMessageState, guarded: <T>(fn: () => Promise<T>) => Promise<T>): MessageLog {
  const find = (id: string) => state.rows.find((r) => r.id === id);
  const log: MessageLog = {
    receiveMany: async (messages) => {
      const out = [];
      for (const m of messages) out.push(await log.receive(m));
      return out;
    },
    receive: (m) => guarded(async () => {
      const original = m.controlId
        ? state.rows.find((r) => r.channel === m.channel && r.sender === m.sender && r.controlId === m.controlId && !r.duplicateOf && r.status !== 'rejected')
        : undefined;
      const status = original ? 'duplicate' : m.status ?? 'received';
      const row: MemoryMessageState['rows'][number] = {
        id: String(++state.seq), channel: m.channel, ...(m.partner ? { partner: m.partner } : {}), sender: m.sender,
        controlId: m.controlId, messageType: m.messageType, receivedAt: new Date(m.receivedAt), status, attempts: 0,
        raw: Buffer.from(m.raw), size: m.raw.length,
        ...(original ? { duplicateOf: original.id, ...(original.ack ? { ack: original.ack } : {}), settledAt: new Date(m.receivedAt) } : {}),
        ...(!original && m.error ? { error: m.error } : {}), ...(!original && m.ack ? { ack: m.ack } : {}),
        ...(!original && status === 'rejected' ? { settledAt: new Date(m.receivedAt) } : {}),
        ...(!original && m.replayOf ? { replayOf: m.replayOf } : {}),
      };
      state.rows.push(row);
      return { message: copy(row), ...(original ? { original: copy(original) } : {}) };
    }),
    get: (id) => guarded(async () => { const r = find(id); return r ? copy(r) : undefined; }),
    raw: (id) => guarded(async () => { const r = find(id); return r ? Buffer.from(r.raw) : undefined; }),
    settle: (id, s) => guarded(async () => {
      const r = find(id);
      if (!r || (r.status !== 'received' && r.status !== 'rejected')) return false;
      r.status = s.status;
      r.ack = s.ack;
      if (s.error !== undefined) r.error = s.error; else delete r.error;
      if (s.result !== undefined) r.result = structuredClone(s.result); else delete r.result;
      r.settledAt = new Date();
      r.attempts += 1;
      return true;
    }),
    list: (f = {}) => guarded(async () => state.rows
      .filter((r) => (!f.channel || r.channel === f.channel) && (!f.status || r.status === f.status)
        && (!f.partner || r.partner === f.partner) && (!f.before || Number(r.id) < Number(f.before)))
      .sort((a, b) => Number(b.id) - Number(a.id)).slice(0, Math.min(f.limit ?? 100, 1000)).map(copy)),
    unsettled: (channel, limit) => guarded(async () => state.rows
      .filter((r) => r.channel === channel && r.status === 'received').slice(0, limit).map(copy)),
    reopen: (id) => guarded(async () => {
      const r = find(id);
      if (!r || r.status !== 'rejected') return false;
      if (state.rows.some((o) => o !== r && o.channel === r.channel && o.sender === r.sender && r.controlId && o.controlId === r.controlId
        && !o.duplicateOf && o.status !== 'rejected')) return false;
      r.status = 'received';
      return true;
    }),
  };
  return log;
}
