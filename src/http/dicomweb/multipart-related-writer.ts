// RFC 2387 multipart/related (RFC 2046 §5.1.1 body parts) as PS3.18 §8.6.1.2 uses it for WADO-RS responses: parts
// streamed one after the other with backpressure, the whole length announced up front when every part's is known.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Response } from 'express';

/** One body part: its headers, and its bytes (a Buffer, or a stream opened only when the part is written). */
export interface RelatedPart {
  readonly headers: Readonly<Record<string, string>>;
  readonly length: number;
  readonly body: Buffer | (() => Promise<AsyncIterable<Uint8Array>>);
}

export interface MultipartRelated {
  readonly boundary: string;
  /** The message's Content-Type: `multipart/related; type="<partType>"; boundary=<boundary>`. */
  readonly contentType: string;
  /** Bytes before a part's body: the delimiter line and the part's headers. */
  head(headers: Readonly<Record<string, string>>): Buffer;
  /** Bytes after a part's body (its line break). */
  readonly afterPart: Buffer;
  /** The close delimiter. */
  readonly close: Buffer;
}

export function multipartRelated(partType: string): MultipartRelated {
  const boundary = `teleo-${randomBytes(12).toString('hex')}`;
  return {
    boundary,
    contentType: `multipart/related; type="${partType}"; boundary=${boundary}`,
    head: (headers) => Buffer.from(`--${boundary}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`, 'latin1'),
    afterPart: Buffer.from('\r\n'),
    close: Buffer.from(`--${boundary}--\r\n`),
  };
}

async function write(res: Response, chunk: Uint8Array): Promise<void> {
  if (res.destroyed) throw new Error('client went away');
  if (!res.write(chunk)) {
    await Promise.race([once(res, 'drain'), once(res, 'close')]);
    if (res.destroyed) throw new Error('client went away');
  }
}

/**
 * Sends `parts` as one multipart/related message with status 200 and a Content-Length. A failure once the head is
 * sent (a missing blob, the client leaving) can only end the connection: the caller's error handler destroys it.
 */
export async function sendMultipart(res: Response, mp: MultipartRelated, parts: readonly RelatedPart[], headers: Record<string, string> = {}): Promise<void> {
  const heads = parts.map((p) => mp.head(p.headers));
  const length = parts.reduce((n, p, i) => n + heads[i].length + p.length + mp.afterPart.length, mp.close.length);
  res.status(200).set({ ...headers, 'Content-Type': mp.contentType, 'Content-Length': String(length) });
  for (const [i, part] of parts.entries()) {
    await write(res, heads[i]);
    if (Buffer.isBuffer(part.body)) {
      await write(res, part.body);
    } else {
      let sent = 0;
      for await (const chunk of await part.body()) {
        sent += chunk.byteLength;
        await write(res, chunk);
      }
      if (sent !== part.length) throw new Error(`part ${i + 1} was ${sent} bytes, ${part.length} announced`);
    }
    await write(res, mp.afterPart);
  }
  res.end(mp.close);
}
