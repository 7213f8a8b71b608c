// Test fixture (not shipped): a real HTTP receiver on port 0 standing for a subscriber's rest-hook endpoint.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received { method: string; url: string; headers: Record<string, string | string[] | undefined>; body: string; at: number }

export interface Receiver {
  readonly url: string;
  readonly received: Received[];
  /** Status answered to the next requests (default 200). */
  status: number;
  /** Resolves with the first request (already received or to come) satisfying `pred`. */
  next(pred: (r: Received) => boolean, timeoutMs?: number): Promise<Received>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const waiters: { pred: (r: Received) => boolean; resolve: (r: Received) => void }[] = [];
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      received.push(r);
      for (const w of [...waiters]) if (w.pred(r)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(r); }
      res.writeHead(receiver.status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const receiver: Receiver = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    status: 200,
    next(pred, timeoutMs = 10_000) {
      const found = received.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (r: Received) => { clearTimeout(timer); resolve(r); } };
        const timer = setTimeout(() => { waiters.splice(waiters.indexOf(w), 1); reject(new Error('no matching request received in time')); }, timeoutMs);
        waiters.push(w);
      });
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  return receiver;
}

/** Polls `fn` until it returns a value other than undefined (or fails after `timeoutMs`). */
export async function until<T>(fn: () => Promise<T | undefined>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
