// The floor of the HL7 bench: a bare MLLP server answering each frame with a minimal ACK (MSA-2 = MSH-10), no storage.
import { createServer } from 'node:net';
import { createMllpDecoder, mllpFrame } from '../../src/hl7v2/mllp-framing.js';
import { peekMsh } from '../../src/hl7v2/hl7-charset.js';

const server = createServer((socket) => {
  socket.setNoDelay(true);
  const decoder = createMllpDecoder({
    frame: (content) => socket.write(mllpFrame(Buffer.from(`MSH|^~\\&|ECHO|ECHO|||20260101||ACK^O01^ACK|1|P|2.5.1\rMSA|AA|${peekMsh(content, 10) ?? ''}`))),
    problem: () => undefined,
  }, 64 * 1024 * 1024);
  socket.on('data', (c: Buffer) => decoder.push(c));
  socket.on('error', () => socket.destroy());
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
