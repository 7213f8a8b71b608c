// Progress of a DICOM file import on the terminal: a progress bar (cli-progress) on a TTY, plain lines otherwise.
import cliProgress from 'cli-progress';

export interface ImportProgress {
  /** `bytes` more were sent; `fileDone` when a file was finished (sent or skipped). */
  advance(bytes: number, fileDone?: boolean): void;
  /** A line between updates (e.g. "upload complete, the platform is reading the archive"). */
  note(message: string): void;
  stop(): void;
}

const mib = (bytes: number): string => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;

export function createImportProgress(totalBytes: number, totalFiles: number, out: NodeJS.WriteStream = process.stderr): ImportProgress {
  let bytes = 0;
  let files = 0;
  const payload = () => ({ files: `${files}/${totalFiles}`, sent: mib(bytes), size: mib(totalBytes) });
  if (out.isTTY) {
    const bar = new cliProgress.SingleBar({
      stream: out, format: 'import [{bar}] {percentage}% | {files} files | {sent} of {size} | ETA {eta_formatted}',
      barCompleteChar: '█', barIncompleteChar: '░', hideCursor: true, clearOnComplete: false, fps: 5,
    });
    bar.start(Math.max(totalBytes, 1), 0, payload());
    return {
      advance(n, fileDone) {
        bytes += n;
        if (fileDone) files++;
        bar.update(Math.min(bytes, Math.max(totalBytes, 1)), payload());
      },
      note(message) {
        bar.update(payload());
        bar.stop();
        out.write(`${message}\n`);
      },
      stop: () => bar.stop(),
    };
  }
  // Not a terminal (a log, CI): one line every few seconds, and at the end.
  let last = 0;
  const line = () => {
    const pct = totalBytes > 0 ? Math.floor((100 * bytes) / totalBytes) : 100;
    out.write(`import: ${pct}% | ${files}/${totalFiles} files | ${mib(bytes)} of ${mib(totalBytes)}\n`);
    last = Date.now();
  };
  return {
    advance(n, fileDone) {
      bytes += n;
      if (fileDone) files++;
      if (Date.now() - last >= 2000) line();
    },
    note: (message) => out.write(`import: ${message}\n`),
    stop: line,
  };
}
