// HL7 v2.5.1 Appendix C MLLP listener (optionally over TLS): frames in, ACKs out in order, connections kept open.
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../kernel/logger.js';
import { encodeMessage } from './hl7-charset.js';
import type { InboundProcessor, Reply } from './inbound-processing.js';
import { createMllpDecoder, mllpFrame } from './mllp-framing.js';

export interface MllpListenerOptions {
  port: number;
  host?: string;
  processor: InboundProcessor;
  logger: Logger;
  /** Largest frame accepted; a larger one is answered AR and its first bytes kept for the operator. */
  maxMessageBytes: number;
  /** At most this many open connections (more are closed at once, logged). */
  maxConnections: number;
  tls?: TlsOptions;
}

export interface MllpListener {
  readonly port: number;
  /** Stops accepting, lets current messages finish, closes connections. */
  close(): Promise<void>;
}

/**
 * Each connection has its own decoder and a queue: frames are processed one after the other and answered in the
 * order received, so a sender may pipeline. A socket error or bad bytes end at most that connection.
 */
export async function startMllpListener(o: MllpListenerOptions): Promise<MllpListener> {
  const sockets = new Set<Socket>();
  const onConnection = (socket: Socket) => {
    if (sockets.size >= o.maxConnections) {
      o.logger.warn('hl7 connection refused: too many connections', { remote: socket.remoteAddress, max: o.maxConnections });
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.setNoDelay(true);
    const remote = socket.remoteAddress;
    // Frames and framing problems in arrival order; one worker per connection answers them in that order, taking
    // the frames that arrived meanwhile together (a pipelining sender's enhanced-mode messages are stored at once).
    type Item = { frame: Buffer } | { refuse: Buffer; reason: string };
    const pending: Item[] = [];
    let working = false;
    const send = (reply: Reply) => {
      if (reply.text !== undefined && !socket.destroyed && socket.writable) socket.write(mllpFrame(encodeMessage(reply.text, reply.charset)));
    };
    const work = async () => {
      if (working) return;
      working = true;
      try {
        while (pending.length) {
          const head = pending[0];
          if ('refuse' in head) {
            pending.shift();
            send(await o.processor.refuse(head.refuse, head.reason, remote));
            continue;
          }
          let n = 0;
          while (n < pending.length && n < 256 && 'frame' in pending[n]) n++;
          const frames = pending.splice(0, n).map((i) => (i as { frame: Buffer }).frame);
          for (const reply of await o.processor.receiveBatch(frames, remote)) send(reply);
        }
      } catch (e) {
        o.logger.error('hl7 connection handling failed', { remote, error: String(e) });
      } finally {
        working = false;
        if (pending.length) void work();
        else for (const waiter of drained.splice(0)) waiter();
      }
    };
    const drained: (() => void)[] = [];
    const idle = () => (working || pending.length ? new Promise<void>((resolve) => drained.push(resolve)) : Promise.resolve());
    const decoder = createMllpDecoder({
      frame: (content) => { pending.push({ frame: content }); void work(); },
      problem: (kind, bytes, total) => {
        pending.push({ refuse: bytes, reason: kind === 'too-large'
          ? `Message of ${total} bytes exceeds the ${o.maxMessageBytes}-byte limit (first ${bytes.length} bytes kept)`
          : kind === 'truncated' ? `Connection closed inside an MLLP frame after ${total} bytes (message truncated)`
            : `${total} bytes outside an MLLP frame (<VT> message <FS><CR> expected)` });
        void work();
      },
    }, o.maxMessageBytes);
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('end', () => { decoder.end(); void idle().then(() => socket.end()); });
    socket.on('error', (e) => o.logger.warn('hl7 connection error', { remote, error: e.message }));
    socket.on('close', () => sockets.delete(socket));
  };
  // Half-open allowed: a sender that shuts its side after its last message still gets every ACK before we close.
  const server: Server = o.tls ? createTlsServer({ ...o.tls, allowHalfOpen: true }, onConnection) : createNetServer({ allowHalfOpen: true }, onConnection);
  server.on('error', (e) => o.logger.error('hl7 listener error', { error: e.message }));
  if (o.tls) server.on('tlsClientError', (e: Error) => o.logger.warn('hl7 TLS handshake failed', { error: e.message }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  o.logger.info('hl7 MLLP listening', { port, tls: !!o.tls });
  return {
    port,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.end();
        setTimeout(() => { for (const s of sockets) s.destroy(); }, 2000).unref();
      });
      await o.processor.idle();
    },
  };
}
