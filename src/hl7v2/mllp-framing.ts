// HL7 v2.5.1 Appendix C (MLLP release 1): <VT> message <FS><CR> framing, decoded incrementally with a size limit.

export const VT = 0x0b;
export const FS = 0x1c;
export const CR = 0x0d;

export type FrameProblem =
  /** Bytes outside any frame (a sender not speaking MLLP, or noise between frames). */
  | 'outside-frame'
  /** A frame larger than the limit: its first `limit` bytes are given, the rest was counted and discarded. */
  | 'too-large'
  /** The connection closed inside a frame. */
  | 'truncated';

export interface FrameSink {
  frame(content: Buffer): void;
  problem(kind: FrameProblem, bytes: Buffer, totalBytes: number): void;
}

export interface MllpDecoder {
  push(chunk: Buffer): void;
  /** The connection ended: reports a frame left open as truncated, and pending outside bytes. */
  end(): void;
}

/** Wraps an encoded message in a frame. */
export function mllpFrame(content: Buffer): Buffer {
  const out = Buffer.allocUnsafe(content.length + 3);
  out[0] = VT;
  content.copy(out, 1);
  out[content.length + 1] = FS;
  out[content.length + 2] = CR;
  return out;
}

/**
 * Several frames per chunk and frames split across chunks (even between FS and CR) are handled; a frame over
 * `maxBytes` keeps its first `maxBytes` bytes (for the operator) and is reported when its end arrives, so memory
 * stays bounded whatever the sender does. A lone FS not followed by CR is taken as the end too (lenient receiver).
 */
export function createMllpDecoder(sink: FrameSink, maxBytes: number): MllpDecoder {
  let inFrame = false;
  let parts: Buffer[] = [];
  let kept = 0;
  let total = 0;
  let pendingFs = false;
  let outside: Buffer[] = [];
  let outsideBytes = 0;

  const flushOutside = () => {
    if (outsideBytes === 0) return;
    const bytes = Buffer.concat(outside);
    outside = [];
    const n = outsideBytes;
    outsideBytes = 0;
    // Whitespace between frames (a CR/LF some senders add) is not worth an operator's attention.
    if (!/^[\r\n\s]*$/.test(bytes.toString('latin1'))) sink.problem('outside-frame', bytes.subarray(0, maxBytes), n);
  };
  const keep = (b: Buffer) => {
    total += b.length;
    if (kept >= maxBytes) return;
    const slice = b.subarray(0, maxBytes - kept);
    parts.push(slice);
    kept += slice.length;
  };
  /** Ends the current frame: its kept bytes and its total length. */
  const take = (): [Buffer, number] => {
    const taken: [Buffer, number] = [Buffer.concat(parts), total];
    inFrame = false;
    parts = [];
    kept = 0;
    total = 0;
    return taken;
  };
  const close = () => {
    const [content, n] = take();
    if (n > maxBytes) sink.problem('too-large', content, n);
    else sink.frame(content);
  };

  return {
    push(chunk) {
      let i = 0;
      while (i < chunk.length) {
        if (!inFrame) {
          const start = chunk.indexOf(VT, i);
          const end = start === -1 ? chunk.length : start;
          if (end > i) {
            outside.push(chunk.subarray(i, end));
            outsideBytes += end - i;
          }
          if (start === -1) return;
          flushOutside();
          inFrame = true;
          i = start + 1;
          continue;
        }
        if (pendingFs) {
          pendingFs = false;
          close();
          if (chunk[i] === CR) i += 1;
          continue;
        }
        const fs = chunk.indexOf(FS, i);
        if (fs === -1) {
          keep(chunk.subarray(i));
          return;
        }
        keep(chunk.subarray(i, fs));
        if (fs + 1 >= chunk.length) {
          pendingFs = true;
          return;
        }
        close();
        i = chunk[fs + 1] === CR ? fs + 2 : fs + 1;
      }
    },
    end() {
      if (pendingFs) {
        pendingFs = false;
        close();
      }
      if (inFrame) sink.problem('truncated', ...take());
      flushOutside();
    },
  };
}
