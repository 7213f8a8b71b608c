// RFC 2046 §5.1 multipart bodies (RFC 2387 multipart/related, as PS3.18 §8.6.1.2 uses them) read incrementally: each
// part's headers, then its body as a stream, pulled from the request only as fast as the consumer reads it.
// The byte-level parsing is multipasta's (boundary search, part headers with size limits); this module turns its
// callbacks into a pull-based async iteration so that an HTTP request body is back-pressured, never buffered.
import * as multipasta from 'multipasta';

export interface MultipartPart {
  /** 1-based position of the part in the body. */
  readonly index: number;
  /** `type/subtype` of the part's Content-Type, lower-cased ('' when absent). */
  readonly mediaType: string;
  /** Parameters of the part's Content-Type (names lower-cased). */
  readonly mediaTypeParameters: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  /**
   * The part's bytes, iterable once. The next part is read only after this one ends (a consumer that stops early has
   * the rest skipped). The chunks are views of the request's buffers: valid as long as the consumer keeps them.
   */
  readonly body: AsyncIterable<Uint8Array>;
}

/** The multipart body cannot be read further (no boundary, malformed part headers, ends before its closing boundary…). */
export class MultipartSyntaxError extends Error {}

export interface MultipartLimits {
  /** Most parts accepted. */
  readonly maxParts?: number;
}

type ParserEvent =
  | { readonly kind: 'part'; readonly info: multipasta.PartInfo }
  | { readonly kind: 'chunk'; readonly data: Uint8Array }
  | { readonly kind: 'part-end' }
  | { readonly kind: 'done' }
  | { readonly kind: 'error'; readonly error: multipasta.MultipartError };

function describe(error: multipasta.MultipartError): string {
  switch (error._tag) {
    case 'InvalidBoundary': return 'the multipart Content-Type has no boundary parameter';
    case 'BadHeaders': return `malformed part headers (${error.error.reason})`;
    case 'InvalidDisposition': return 'a part has an invalid Content-Disposition';
    case 'ReachedLimit': return `too large a multipart body (${error.limit})`;
    case 'EndNotReached': return 'the multipart body ends before its closing boundary';
  }
}

/**
 * Reads the multipart body `source` whose Content-Type header is `contentType`. Yields the parts in order; throws
 * MultipartSyntaxError (from the iteration, or from a part's body) when the body is not well-formed. After the
 * closing boundary the rest of `source` (the epilogue) is read and ignored.
 */
export async function* readMultipart(source: AsyncIterable<Uint8Array>, contentType: string, limits: MultipartLimits = {}): AsyncGenerator<MultipartPart> {
  const queue: ParserEvent[] = [];
  const parser = multipasta.make({
    headers: { 'content-type': contentType },
    isFile: () => true, // every part is streamed, none collected as a form field
    maxParts: limits.maxParts,
    onField: () => undefined,
    onFile: (info) => {
      queue.push({ kind: 'part', info });
      return (chunk) => queue.push(chunk === null ? { kind: 'part-end' } : { kind: 'chunk', data: chunk });
    },
    onError: (error) => queue.push({ kind: 'error', error }),
    onDone: () => queue.push({ kind: 'done' }),
  });
  const input = source[Symbol.asyncIterator]();
  let inputEnded = false;
  let head = 0;

  /** The next parser event, feeding the parser one input chunk at a time until it has one. */
  async function next(): Promise<ParserEvent> {
    while (head === queue.length) {
      queue.length = 0;
      head = 0;
      if (inputEnded) throw new MultipartSyntaxError(describe({ _tag: 'EndNotReached' }));
      const read = await input.next();
      if (read.done) {
        inputEnded = true;
        parser.end();
      } else {
        parser.write(read.value);
      }
    }
    const event = queue[head];
    head++;
    if (event.kind === 'error') throw new MultipartSyntaxError(describe(event.error));
    return event;
  }

  let open = false;
  let index = 0;
  async function* body(): AsyncGenerator<Uint8Array> {
    while (open) {
      const event = await next();
      if (event.kind === 'chunk') {
        if (event.data.byteLength > 0) yield event.data;
      } else {
        open = false;
        if (event.kind !== 'part-end') throw new MultipartSyntaxError('a part ends without a boundary');
      }
    }
  }

  try {
    for (;;) {
      while (open) {
        const event = await next(); // the rest of a part its consumer left unread
        if (event.kind !== 'chunk') open = false;
      }
      const event = await next();
      if (event.kind === 'done') break;
      if (event.kind !== 'part') continue; // preamble bytes before the first boundary
      const { info } = event;
      open = true;
      index++;
      const [mediaType, ...params] = (typeof info.headers['content-type'] === 'string' ? info.headers['content-type'] : '').split(';');
      yield {
        index,
        mediaType: mediaType.trim().toLowerCase(),
        mediaTypeParameters: Object.fromEntries(params.map((p) => p.split('=')).filter((kv) => kv.length === 2)
          .map(([k, v]) => [k.trim().toLowerCase(), v.trim().replace(/^"(.*)"$/, '$1')])),
        headers: info.headers,
        body: body(),
      };
    }
    while (!inputEnded) {
      const read = await input.next(); // the epilogue
      inputEnded = read.done === true;
    }
  } finally {
    if (!inputEnded) await input.return?.();
  }
}
