// Types for jpeg-lossless-decoder-js (ITU-T T.81 process 14, PS3.5 A.4.1 JPEG lossless transfer syntaxes), untyped upstream.
declare module 'jpeg-lossless-decoder-js' {
  /** Decodes a lossless JPEG bit stream: the samples, Uint8 or Uint16 (numBytes 1 or 2), colour-by-pixel. */
  export class Decoder {
    constructor(buffer?: ArrayBuffer, numBytes?: number);
    decode(buffer: ArrayBuffer, offset?: number, length?: number, numBytes?: number): Uint8Array | Uint16Array;
  }
}
