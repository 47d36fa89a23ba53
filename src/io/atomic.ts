// The one write path of the engine. Every file ULPT Studio writes (adapters, checkpoints, configs, summaries,
// metrics and log lines, lock and stop files) goes through here, so every write is checked to its last byte:
// fs.writeSync may write fewer bytes than asked (a full disk), and a file is only put in place after all of it
// was written and flushed. On any failure the old file stays, no temp file is left, and the error names the file
// and the cause in words.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A write that did not complete; `file` is the file the user knows (never the temp file), `code` the errno code. */
export class WriteError extends Error {
  override name = 'WriteError';
  constructor(readonly file: string, readonly code: string | undefined, message: string) {
    super(message);
  }
}

/** The cause of a failed write in words, from its errno code. */
const CAUSES: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  EFBIG: 'the file is larger than the file system allows',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'the operation is not permitted',
  EIO: 'an input/output error on the device',
  ENOENT: 'its folder does not exist (it was removed?)',
  ENOTDIR: 'a part of its path is a file, not a folder',
  EISDIR: 'it is a folder',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the name is too long',
  EXDEV: 'the temp file is on another device',
};

/** A WriteError for `file` from a failure (an errno error or a short write); other errors pass through unchanged. */
export function writeError(file: string, e: unknown, doing = 'writing'): Error {
  if (e instanceof WriteError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (!code) return e instanceof Error ? e : new Error(String(e));
  const cause = CAUSES[code] ?? `${code}: ${(e as Error).message}`;
  return new WriteError(file, code, `${cause} while ${doing} ${file}`);
}

/**
 * The one call that writes bytes, with the path written to (a temp file or an appended file). Tests replace it to
 * simulate a device that writes fewer bytes than asked or is full (test/unit/writes.test.ts).
 */
export const io = {
  writeSync: (fd: number, buf: Uint8Array, offset: number, length: number, _path: string): number => fs.writeSync(fd, buf, offset, length),
};

/**
 * Writes all of `buf` to `fd`. A short write is retried from where it stopped; a write that makes no progress is
 * a full device (the kernel reports ENOSPC on the next try, but some file systems return 0 instead).
 */
export function writeAll(fd: number, buf: Uint8Array, where: string): void {
  let done = 0;
  while (done < buf.length) {
    const n = io.writeSync(fd, buf, done, buf.length - done, where);
    if (!(n > 0)) throw Object.assign(new Error(`only ${done} of ${buf.length} bytes could be written`), { code: 'ENOSPC' });
    done += n;
  }
}

const bytesOf = (data: string | Uint8Array) => (typeof data === 'string' ? Buffer.from(data, 'utf8') : data);

/** A temp file name beside `file`: same folder (so rename is atomic), unique, and ending in .tmp (cleanTempFiles). */
export function tempName(file: string): string {
  return `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

/** Writes `data` to a new temp file, every byte, flushed to the device. Throws a WriteError naming `file`. */
function writeTemp(tmp: string, data: Uint8Array, file: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx');
    writeAll(fd, data, tmp);
    fs.fsyncSync(fd);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fd = undefined;
    fs.rmSync(tmp, { force: true });
    throw writeError(file, e);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Writes a file so that readers see either the old content or the new, never a torn file: a temp file written to
 * its last byte and flushed, then renamed over `file`. On failure `file` is unchanged and the temp file removed.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const dir = path.dirname(path.resolve(file));
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw writeError(file, e, 'creating the folder of');
  }
  const tmp = tempName(file);
  writeTemp(tmp, bytesOf(data), file);
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw writeError(file, e, 'putting in place');
  }
}

/**
 * Creates `file` with `data` only if it does not exist yet, atomically: readers never see it half-written, and of
 * two writers racing for one name exactly one wins (a hard link from a fully written temp file). Returns false,
 * writing nothing, when the file already exists.
 */
export function createFileExclusive(file: string, data: string | Uint8Array): boolean {
  const tmp = tempName(file);
  writeTemp(tmp, bytesOf(data), file);
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw writeError(file, e, 'creating');
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Appends `data` (whole lines) to `file`: all of it or nothing. A write that stops part-way is cut back to the
 * file's previous length (truncating needs no space), so a full disk never leaves a torn line; the error says so.
 */
export function appendFileChecked(file: string, data: string | Uint8Array): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'a');
  } catch (e) {
    throw writeError(file, e, 'appending to');
  }
  try {
    const before = fs.fstatSync(fd).size;
    try {
      writeAll(fd, bytesOf(data), file);
    } catch (e) {
      try {
        fs.ftruncateSync(fd, before);
      } catch {
        /* the cut failed too: the reader's torn-last-line rule still applies */
      }
      throw writeError(file, e, 'appending to');
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Temp files a killed write left in `dir` (ours end in `.<pid>.<hex>.tmp` or `.heartbeat.tmp`). */
export function leftoverTempFiles(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => /\.\d+\.([0-9a-f]{8}|\d+|heartbeat)\.tmp$/.test(n)).sort();
}
