// FHIR R4 Subscription websocket channel (subscription.html §2.46.7.2): `bind <id>` → `bound <id>`, then `ping <id>`.
//
// The client opens a websocket on the URL advertised in the CapabilityStatement (extension capabilitystatement-websocket)
// with `Authorization: Bearer <token>` on the upgrade request, and binds Subscriptions it owns (channel.type
// websocket). Per notification it receives `ping <id>`; when the Subscription has a channel.payload it then also
// receives `payload <id> <resource JSON>` (a platform extension message). Errors come back as `error <id> <text>`.
// One in-process server: sockets bound to a Subscription are those of this process.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Resource, Subscription } from '@medplum/fhirtypes';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../kernel/logger.js';
import type { Principal } from '../kernel/principal.js';
import { ownerOf, payloadContentOf, sameOwner } from './subscription-model.js';

export interface WebsocketChannelDeps {
  /** Path of the websocket endpoint on the HTTP server, e.g. `/fhir/websocket`. */
  path: string;
  /** Turns the upgrade request's Authorization header into a principal; throws when it is not valid. */
  authenticate(authorization: string | undefined): Promise<Principal>;
  /** The current Subscription (read as the platform), or undefined. */
  readSubscription(id: string): Promise<Subscription | undefined>;
  logger: Logger;
  /** Interval of websocket ping frames that detect dead peers (default 30 s). */
  heartbeatMs?: number;
}

export interface WebsocketChannel {
  /** Handles upgrade requests for `path` on this server (other paths get a 404). */
  attach(server: Server): void;
  /** Sends `ping <id>` (and the payload message when asked) to every socket bound to the Subscription; returns their number. */
  notify(subscription: Subscription, resource: Resource | undefined): number;
  /** How many sockets are bound to this Subscription now. */
  boundCount(subscriptionId: string): number;
  close(): Promise<void>;
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

export function createWebsocketChannel(deps: WebsocketChannelDeps): WebsocketChannel {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const bound = new Map<string, Set<WebSocket>>();
  const alive = new WeakSet<WebSocket>();

  const unbindAll = (ws: WebSocket) => {
    for (const [id, set] of bound) {
      set.delete(ws);
      if (set.size === 0) bound.delete(id);
    }
  };

  async function bind(ws: WebSocket, principal: Principal, id: string): Promise<void> {
    if (!ID.test(id)) return void ws.send(`error ${id.slice(0, 64)} invalid subscription id`);
    const sub = await deps.readSubscription(id);
    // Someone else's Subscription answers like an absent one: its existence is not revealed.
    if (!sub || !sameOwner(ownerOf(sub), principal)) return void ws.send(`error ${id} subscription not found`);
    if (sub.channel?.type !== 'websocket') return void ws.send(`error ${id} channel type is not websocket`);
    if (sub.status !== 'active' && sub.status !== 'error') return void ws.send(`error ${id} subscription is ${sub.status}`);
    let set = bound.get(id);
    if (!set) bound.set(id, (set = new Set()));
    set.add(ws);
    ws.send(`bound ${id}`);
  }

  function onConnection(ws: WebSocket, principal: Principal): void {
    alive.add(ws);
    ws.on('pong', () => alive.add(ws));
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : data.toString();
      const [verb, id = ''] = text.trim().split(/\s+/, 2);
      if (verb === 'bind') {
        bind(ws, principal, id).catch((e: unknown) => {
          deps.logger.warn('websocket bind failed', { subscription: id, error: String(e) });
          ws.send(`error ${id} bind failed`);
        });
      } else if (verb === 'unbind') {
        bound.get(id)?.delete(ws);
        ws.send(`unbound ${id}`);
      } else {
        ws.send(`error - unknown message (expected: bind <subscription-id>)`);
      }
    });
    ws.on('close', () => unbindAll(ws));
    ws.on('error', () => unbindAll(ws));
  }

  function reject(socket: Duplex, status: string, extra = ''): void {
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n${extra}\r\n`);
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== deps.path) return reject(socket, '404 Not Found');
    deps.authenticate(req.headers.authorization).then(
      (principal) => wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, principal)),
      () => reject(socket, '401 Unauthorized', 'WWW-Authenticate: Bearer\r\n'),
    );
  }

  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.has(ws)) { ws.terminate(); continue; }
      alive.delete(ws);
      ws.ping();
    }
  }, deps.heartbeatMs ?? 30_000);
  heartbeat.unref();

  return {
    attach(server) {
      server.on('upgrade', onUpgrade);
    },
    notify(sub, resource) {
      const id = sub.id as string;
      const sockets = bound.get(id);
      if (!sockets) return 0;
      const payload = resource && payloadContentOf(sub) !== 'empty'
        ? `payload ${id} ${JSON.stringify(payloadContentOf(sub) === 'id-only' ? { resourceType: resource.resourceType, id: resource.id, meta: resource.meta } : resource)}`
        : undefined;
      for (const ws of sockets) {
        ws.send(`ping ${id}`);
        if (payload) ws.send(payload);
      }
      return sockets.size;
    },
    boundCount: (id) => bound.get(id)?.size ?? 0,
    async close() {
      clearInterval(heartbeat);
      for (const ws of wss.clients) ws.terminate();
      bound.clear();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
