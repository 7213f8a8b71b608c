// Test harness: an MLLP listener on port 0 over the memory platform, a raw MLLP client, and message builders.
import { connect, type Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import type { Patient } from '@medplum/fhirtypes';
import { createLogger } from '../kernel/logger.js';
import { createPlatform, type Platform } from '../workflow/teleexpertise/test-directory.js';
import type { Hl7Partner } from './hl7-partner.js';
import type { Hl7Route } from './hl7-route.js';
import { createInboundProcessor, type InboundDeps, type InboundProcessor } from './inbound-processing.js';
import { startMllpListener, type MllpListener } from './mllp-listener.js';
import { CR, FS, VT } from './mllp-framing.js';
import { readPid } from './pid-segment.js';

export const RIS: Hl7Partner = {
  name: 'ris-chu-x', application: 'RIS', facility: 'CHU-X', charset: 'UNICODE UTF-8', ackMode: 'original', reportMessage: 'MDM', organizations: [],
};

/** A real handler for the harness: ADT^A28 creates the Patient of its PID (the listener's tests need one route). */
export const TEST_PATIENT_ROUTE: Hl7Route = {
  messageType: 'ADT^A28',
  description: 'test: create the patient of PID',
  async handle({ svc, ctx, message }) {
    const pid = readPid(message.getSegment('PID'));
    const created = await svc.create<Patient>(ctx, { resourceType: 'Patient', identifier: [...pid.identifiers], ...(pid.name ? { name: [pid.name] } : {}) });
    return { written: [`Patient/${created.resource.id}`] };
  },
};

export function adtA28(controlId: string, options: { ipp?: string; family?: string; app?: string; charset?: string; extra?: string } = {}): string {
  return [
    `MSH|^~\\&|${options.app ?? 'RIS'}|CHU-X|TELEO|TELEO|20261123101500||ADT^A28^ADT_A05|${controlId}|P|2.5|||||FRA|${options.charset ?? 'UNICODE UTF-8'}${options.extra ?? ''}`,
    'EVN||20261123101500',
    `PID|||${options.ipp ?? '123'}^^^CHU-X&1.2.250.1.999.1&ISO^PI||${options.family ?? 'DUPONT'}^JEAN^^^^^L||19800101|M`,
    'PV1||N',
  ].join('\r');
}

export interface Harness extends Platform {
  processor: InboundProcessor;
  listener: MllpListener;
  close(): Promise<void>;
}

export async function startHarness(options: Partial<InboundDeps> & { maxMessageBytes?: number; platform?: Platform; tls?: TlsOptions } = {}): Promise<Harness> {
  const platform = options.platform ?? await createPlatform();
  const processor = createInboundProcessor({
    svc: platform.svc, routes: [TEST_PATIENT_ROUTE], partners: [RIS], identity: { application: 'TELEO', facility: 'TELEO' },
    baseUrl: 'http://localhost/fhir', logger: createLogger('silent'), acceptUnknownSenders: false, ...options,
  });
  const listener = await startMllpListener({
    port: 0, host: '127.0.0.1', processor, logger: createLogger('silent'), maxMessageBytes: options.maxMessageBytes ?? 1024 * 1024, maxConnections: 16, tls: options.tls,
  });
  return { ...platform, processor, listener, close: () => listener.close() };
}

/** A raw MLLP client: send frames (or any bytes), collect the frames answered. */
export interface RawClient {
  write(bytes: Buffer | string): void;
  send(message: string, encoding?: BufferEncoding): void;
  /** Resolves with the next `n` answered frames (as latin1 or utf8 text). */
  replies(n: number, encoding?: BufferEncoding): Promise<string[]>;
  end(): void;
  readonly socket: Socket;
}

export async function rawClient(port: number): Promise<RawClient> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => { socket.once('connect', () => resolve()); socket.once('error', reject); });
  let buffer = Buffer.alloc(0);
  const frames: Buffer[] = [];
  let waiter: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const start = buffer.indexOf(VT);
      const end = buffer.indexOf(FS, start + 1);
      if (start === -1 || end === -1 || end + 1 >= buffer.length || buffer[end + 1] !== CR) break;
      frames.push(buffer.subarray(start + 1, end));
      buffer = buffer.subarray(end + 2);
    }
    waiter?.();
  });
  return {
    socket,
    write: (bytes) => socket.write(bytes),
    send: (message, encoding = 'utf8') => socket.write(Buffer.concat([Buffer.from([VT]), Buffer.from(message, encoding), Buffer.from([FS, CR])])),
    async replies(n, encoding = 'utf8') {
      const deadline = Date.now() + 10_000;
      while (frames.length < n) {
        if (Date.now() > deadline) throw new Error(`only ${frames.length} of ${n} replies in 10 s`);
        await new Promise<void>((resolve) => { waiter = resolve; setTimeout(resolve, 100); });
      }
      return frames.splice(0, n).map((f) => f.toString(encoding));
    },
    end: () => socket.end(),
  };
}

/** Field `n` of segment `name` in an ER7 text (1-based; MSH-n counts MSH-1 as the separator). */
export function field(text: string, name: string, n: number, occurrence = 0): string {
  const seg = text.split('\r').filter((s) => s.startsWith(`${name}|`))[occurrence];
  if (!seg) return '';
  const parts = seg.split('|');
  return name === 'MSH' ? (n === 1 ? '|' : parts[n - 1] ?? '') : parts[n] ?? '';
}
