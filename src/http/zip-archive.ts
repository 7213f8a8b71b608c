// ZIP archives (PKWARE APPNOTE.TXT 6.3: central directory, local headers, deflate, ZIP64) read from a spooled file with
// yauzl, entry by entry, with limits against zip bombs and entry names that are never used as paths.
import type { Readable } from 'node:stream';
import yauzl, { type Entry, type ZipFile } from 'yauzl';

export interface ZipLimits {
  /** Entries in the central directory; beyond, the archive is refused whole. */
  readonly maxEntries: number;
  /** Uncompressed size of one entry; a larger entry is not read. */
  readonly maxEntryBytes: number;
  /** Uncompressed size of all the entries read; entries beyond are not read. */
  readonly maxTotalBytes: number;
}

/**
 * One entry, with what may be done with it. `file`: readable, `open()` gives its bytes (yauzl checks that they are as
 * many as the central directory says: a lying size is a stream error). `refused`: not read, with why, and whether
 * that makes it a failure (it might have been an instance) or a mere skip.
 */
export type ZipItem =
  | { readonly kind: 'file'; readonly name: string; readonly size: number; open(): Promise<Readable> }
  | { readonly kind: 'refused'; readonly name: string; readonly reason: string; readonly as: 'failure' | 'skip' };

/** The archive cannot be read at all (not a zip, no central directory, too many entries). */
export class ZipArchiveError extends Error {}

function describe(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${Math.ceil(bytes / 1024 ** 2)} MiB`;
}

function itemOf(zip: ZipFile, entry: Entry, limits: ZipLimits, total: { bytes: number }): ZipItem | undefined {
  // Names are decoded here rather than by yauzl, which would stop the whole archive at the first unsafe one.
  const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);
  if (name.endsWith('/')) return undefined; // a folder
  const unsafe = yauzl.validateFileName(name);
  // Entry names are only labels (nothing is extracted to disk), but an archive naming files outside itself is suspect.
  if (unsafe !== null) return { kind: 'refused', name, reason: `unsafe entry name (${unsafe.replace(/: .*$/, '')}): not read`, as: 'skip' };
  if (/\.(zip|jar|7z|rar|tar|tgz|gz|iso)$/i.test(name)) {
    return { kind: 'refused', name, reason: 'nested archive: not expanded (import it on its own)', as: 'skip' };
  }
  if (entry.isEncrypted()) return { kind: 'refused', name, reason: 'encrypted zip entry: not supported', as: 'failure' };
  if (!entry.canDecodeFileData()) {
    return { kind: 'refused', name, reason: `zip compression method ${entry.compressionMethod} not supported (stored and deflate are)`, as: 'failure' };
  }
  if (entry.uncompressedSize > limits.maxEntryBytes) {
    return { kind: 'refused', name, reason: `expands to ${describe(entry.uncompressedSize)}, more than the ${describe(limits.maxEntryBytes)} allowed per file: not read`, as: 'failure' };
  }
  if (total.bytes + entry.uncompressedSize > limits.maxTotalBytes) {
    return { kind: 'refused', name, reason: `the archive expands to more than ${describe(limits.maxTotalBytes)}: entry not read`, as: 'failure' };
  }
  total.bytes += entry.uncompressedSize;
  return { kind: 'file', name, size: entry.uncompressedSize, open: () => zip.openReadStreamPromise(entry) };
}

/**
 * Visits the entries of the zip file at `path` in central directory order, `concurrency` at a time, and resolves once
 * every visit has finished: to `{ error }` when the central directory turned out unreadable part-way (the entries
 * before it were visited). A visit that throws stops the walk and the error is rethrown once the others have ended.
 */
export async function forEachZipEntry(path: string, limits: ZipLimits, concurrency: number, visit: (item: ZipItem) => Promise<void>): Promise<{ error?: string }> {
  let zip: ZipFile;
  try {
    zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true });
  } catch (e) {
    throw new ZipArchiveError(`not a readable zip archive: ${(e as Error).message}`);
  }
  if (zip.entryCount > limits.maxEntries) {
    zip.close();
    throw new ZipArchiveError(`the archive holds ${zip.entryCount} entries, more than the ${limits.maxEntries} allowed`);
  }
  const running = new Set<Promise<void>>();
  const total = { bytes: 0 };
  let visitError: { error: unknown } | undefined;
  let archiveError: string | undefined;
  try {
    for await (const entry of zip.eachEntry()) {
      const item = itemOf(zip, entry, limits, total);
      if (!item) continue;
      const p: Promise<void> = visit(item).catch((error: unknown) => { visitError ??= { error }; }).finally(() => running.delete(p));
      running.add(p);
      if (running.size >= concurrency) await Promise.race(running);
      if (visitError) break;
    }
  } catch (e) {
    archiveError = `zip central directory unreadable: ${(e as Error).message}`;
  } finally {
    await Promise.all(running);
    zip.close(); // the file descriptor is released once the last entry stream has ended
  }
  if (visitError) throw visitError.error;
  return archiveError ? { error: archiveError } : {};
}
