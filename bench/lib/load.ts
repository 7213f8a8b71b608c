// HTTP load generation on loopback: a keep-alive client and a closed loop of N requests over C concurrent clients.
import { Agent, request } from 'node:http';

export interface HttpResponse { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

export interface HttpClient {
  send(method: string, path: string, body?: string, headers?: Record<string, string>): Promise<HttpResponse>;
  json<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  close(): void;
}

/** A client with one keep-alive socket per concurrent caller (maxSockets = `sockets`). */
export function httpClient(origin: string, token: string, sockets: number): HttpClient {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  const url = new URL(origin);
  const send = (method: string, path: string, body?: string, headers: Record<string, string> = {}) =>
    new Promise<HttpResponse>((resolve, reject) => {
      const req = request({
        host: url.hostname, port: url.port, method, path, agent,
        headers: {
          authorization: `Bearer ${token}`, accept: 'application/fhir+json', ...headers,
          ...(body !== undefined ? { 'content-type': 'application/fhir+json', 'content-length': String(Buffer.byteLength(body)) } : {}),
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  return {
    send,
    async json<T>(method: string, path: string, body?: unknown) {
      const r = await send(method, path, body === undefined ? undefined : JSON.stringify(body));
      return { status: r.status, body: (r.body.length ? JSON.parse(r.body.toString('utf8')) : undefined) as T };
    },
    close: () => agent.destroy(),
  };
}

export interface LoopResult {
  /** Per-request latency in ms (request start to full response body). */
  latMs: number[];
  wallMs: number;
  errors: number;
  firstError?: string;
}

/**
 * Runs `total` calls of `fn(i)` with `concurrency` callers, each starting its next call as soon as the previous one
 * ends (closed loop). `fn` returns the HTTP status (or throws); non-2xx counts as an error.
 */
export async function closedLoop(total: number, concurrency: number, fn: (i: number) => Promise<number>): Promise<LoopResult> {
  const latMs: number[] = [];
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const t0 = performance.now();
      try {
        const status = await fn(i);
        if (status < 200 || status >= 300) {
          errors++;
          firstError ??= `HTTP ${status} on call ${i}`;
        }
      } catch (e) {
        errors++;
        firstError ??= String(e);
      }
      latMs.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return { latMs, wallMs: performance.now() - start, errors, firstError };
}
