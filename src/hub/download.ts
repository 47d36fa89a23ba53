// Transfers files of one repository at one commit into the cache, so that the cache never holds a half or wrong
// file: each file is written to blobs/<etag>.incomplete (resumed with HTTP Range where an earlier transfer stopped,
// retried when the connection drops), checked against the Hub's hash (sha256 for LFS files, the git blob id for the
// others) and only then renamed to its blob and linked from the snapshot. Free space is checked before any byte.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { writeAll, writeError } from '../io/atomic';
import { freeBytes, withBlobLock, type RepoCache } from './cache';
import { blobName, HubError, networkCause, type HubClient, type RemoteFile } from './client';

/** Where a download stands; sent often (at most every 100 ms) and once at the end of each file. */
export interface DownloadProgress {
  /** "org/name" */
  repo: string;
  /** The file being transferred (its path in the repository). */
  file: string;
  fileBytes: number;
  fileSize: number;
  /** Bytes of this download in place so far (resumed bytes included), of `totalBytes`. */
  bytes: number;
  totalBytes: number;
  /** Files done, of `totalFiles` (those that had to be transferred). */
  filesDone: number;
  totalFiles: number;
  /** Over this download's transfer so far. */
  bytesPerSecond: number;
  /** Time left at that speed; null before there is a speed. */
  etaMs: number | null;
}

export interface TransferOptions {
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
}

export interface TransferResult {
  /** Bytes received over the network in this call. */
  received: number;
  /** Files that were transferred (not found in the cache). */
  transferred: string[];
}

const MAX_ATTEMPTS = 5;
const stallMs = () => 1000 * (Number(process.env.HF_HUB_DOWNLOAD_TIMEOUT) > 0 ? Number(process.env.HF_HUB_DOWNLOAD_TIMEOUT) : 30);

/** Puts `files` of `repo` at `commit` into the cache and links them into the snapshot. */
export async function fetchFiles(client: HubClient, repo: RepoCache, commit: string, files: RemoteFile[], o: TransferOptions = {}): Promise<TransferResult> {
  const todo = files.filter((f) => !blobInPlace(repo, f));
  const partial = (f: RemoteFile) => Math.min(sizeOf(repo.incomplete(blobName(f))) ?? 0, f.size);
  checkSpace(repo, todo.reduce((s, f) => s + f.size - partial(f), 0));
  if (todo.length) fs.mkdirSync(repo.blob(''), { recursive: true });
  const progress = new Progress(repo.id, todo, todo.reduce((s, f) => s + partial(f), 0), o.onProgress);
  const result: TransferResult = { received: 0, transferred: [] };
  for (const f of files) {
    if (todo.includes(f)) {
      const before = partial(f);
      try {
        await withBlobLock(repo, blobName(f), o.signal, async () => {
          // Another download of this repository may have placed it while this one waited for the lock.
          if (blobInPlace(repo, f)) return progress.credit(f.size - before);
          result.received += await transfer(client, repo, commit, f, progress, o.signal);
          await verify(repo, f);
          fs.renameSync(repo.incomplete(blobName(f)), repo.blob(blobName(f)));
          result.transferred.push(f.path);
        });
      } catch (e) {
        // Cancelled while waiting for another download's lock.
        if (o.signal?.aborted && !(e instanceof HubError)) throw new HubError('cancelled', `The download of ${repo.id} was cancelled.`);
        throw e;
      }
      progress.fileDone(f);
    }
    repo.link(commit, f.path, blobName(f));
  }
  return result;
}

/** A blob of the right size is in place (written whole and verified by whoever renamed it there). */
function blobInPlace(repo: RepoCache, f: RemoteFile): boolean {
  return sizeOf(repo.blob(blobName(f))) === f.size;
}

function sizeOf(file: string): number | null {
  try {
    return fs.statSync(file).size;
  } catch {
    return null;
  }
}

function checkSpace(repo: RepoCache, need: number): void {
  if (need <= 0) return;
  const free = freeBytes(repo.root);
  if (free !== null && free < need) {
    throw new HubError('space', `Downloading ${repo.id} needs ${gb(need)} but only ${gb(free)} is free on the disk of ${repo.cacheDir}. Free some space, or point HF_HUB_CACHE at a larger disk.`);
  }
}

export function gb(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} bytes`;
}

class Progress {
  private readonly start = Date.now();
  private received = 0;
  private last = 0;
  private filesDone = 0;
  private bytes: number;
  readonly totalBytes: number;
  constructor(private readonly repo: string, private readonly files: RemoteFile[], resumed: number, private readonly emit?: (p: DownloadProgress) => void) {
    this.bytes = resumed;
    this.totalBytes = files.reduce((s, f) => s + f.size, 0);
  }
  /** `n` more bytes of `f` arrived; `fileBytes` of it are in place now. */
  add(f: RemoteFile, fileBytes: number, n: number): void {
    this.bytes += n;
    this.received += n;
    // The first bytes of each file are shown at once (its name), then at most every 100 ms.
    if (Date.now() - this.last >= 100 || f !== this.current) this.send(f, fileBytes);
  }
  /** Bytes that another download put in place meanwhile: done, but not received here (not part of the speed). */
  credit(n: number): void {
    this.bytes += n;
  }
  /** A transfer restarts a file from `keptBytes` (the server ignored the range, or a corrupt start was dropped). */
  rewind(lost: number): void {
    this.bytes -= lost;
  }
  fileDone(f: RemoteFile): void {
    this.filesDone++;
    this.send(f, f.size);
  }
  private current: RemoteFile | null = null;
  private send(f: RemoteFile, fileBytes: number): void {
    this.last = Date.now();
    this.current = f;
    if (!this.emit) return;
    const seconds = (Date.now() - this.start) / 1000;
    const speed = seconds > 0 ? this.received / seconds : 0;
    const left = this.totalBytes - this.bytes;
    this.emit({
      repo: this.repo, file: f.path, fileBytes, fileSize: f.size, bytes: this.bytes, totalBytes: this.totalBytes,
      filesDone: this.filesDone, totalFiles: this.files.length, bytesPerSecond: speed, etaMs: speed > 0 ? (1000 * left) / speed : left === 0 ? 0 : null,
    });
  }
}

/**
 * Brings blobs/<etag>.incomplete to the file's full size: from where an earlier transfer stopped, again from there
 * when the connection drops (up to MAX_ATTEMPTS), from zero when the server ignores the range. Returns the bytes
 * received.
 */
async function transfer(client: HubClient, repo: RepoCache, commit: string, f: RemoteFile, progress: Progress, signal?: AbortSignal): Promise<number> {
  const part = repo.incomplete(blobName(f));
  let received = 0;
  for (let attempt = 1; ; attempt++) {
    let have = sizeOf(part) ?? 0;
    if (have > f.size) {
      fs.truncateSync(part, 0);
      progress.rewind(Math.min(have, f.size));
      have = 0;
    }
    if (have === f.size) return received;
    const stall = new AbortController();
    // No answer at all counts as a stall too (writeBody watches the body from then on).
    const waiting = setTimeout(() => stall.abort(), stallMs());
    try {
      const res = await client.openFile(repo.type, repo.id, commit, f.path, have, signal ? AbortSignal.any([signal, stall.signal]) : stall.signal);
      clearTimeout(waiting);
      const start = res.status === 206 ? rangeStart(res) : 0;
      if (start !== 0 && start !== have) throw new HubError('server', `The Hub answered a request for ${f.path} from byte ${have} with bytes from ${start}.`);
      if (start < have) progress.rewind(have);
      received += await writeBody(res, part, start, f, progress, stall);
    } catch (e) {
      clearTimeout(waiting);
      // The disk, not the network (full, read-only, removed): retrying would not help.
      if ((e as NodeJS.ErrnoException).syscall) throw writeError(part, e);
      if (signal?.aborted) throw new HubError('cancelled', `The download of ${repo.id} was cancelled; what arrived is kept, and the next download resumes there.`);
      const stalled = stall.signal.aborted;
      const retry = stalled || !(e instanceof HubError) || e.kind === 'network';
      if (!retry || attempt >= MAX_ATTEMPTS) {
        if (e instanceof HubError && !stalled) throw e;
        throw new HubError('network', `The transfer of ${f.path} from ${repo.id} failed ${attempt} times (${stall.signal.aborted ? `no data for ${stallMs() / 1000} s` : networkCause(e)}); what arrived is kept, and the next download resumes there.`);
      }
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

function rangeStart(res: Response): number {
  const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
  if (!m) throw new HubError('server', `The Hub answered a ranged request without a valid Content-Range (${res.url}).`);
  return Number(m[1]);
}

/** Writes the response's body into `part` from byte `start`; the transfer is aborted when no data comes for a while. */
async function writeBody(res: Response, part: string, start: number, f: RemoteFile, progress: Progress, stall: AbortController): Promise<number> {
  if (!res.body) throw new HubError('server', `The Hub sent no content for ${f.path}.`);
  const fd = fs.openSync(part, start === 0 ? 'w' : 'a');
  let at = start;
  let timer = setTimeout(() => stall.abort(), stallMs());
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      clearTimeout(timer);
      timer = setTimeout(() => stall.abort(), stallMs());
      if (at + chunk.length > f.size) throw new HubError('integrity', `The Hub sent more than the ${f.size} bytes it lists for ${f.path}; nothing of it was kept.`);
      writeAll(fd, chunk, part);
      at += chunk.length;
      progress.add(f, at, chunk.length);
    }
    fs.fsyncSync(fd);
  } catch (e) {
    if (e instanceof HubError && e.kind === 'integrity') {
      fs.closeSync(fd);
      fs.rmSync(part, { force: true });
      throw e;
    }
    throw e;
  } finally {
    clearTimeout(timer);
    try {
      fs.closeSync(fd);
    } catch {
      /* closed above */
    }
  }
  if (at < f.size) throw Object.assign(new Error('the connection closed early'), { cause: { message: `the connection closed after ${at} of ${f.size} bytes` } });
  return at - start;
}

/**
 * The whole .incomplete file against the Hub's hash: sha256 for LFS files, git's blob id (sha1 of "blob <size>\0"
 * + content) for the others. A mismatch removes the file (nothing corrupt stays) and says so.
 */
async function verify(repo: RepoCache, f: RemoteFile): Promise<void> {
  const part = repo.incomplete(blobName(f));
  const hash = f.sha256 ? createHash('sha256') : createHash('sha1').update(`blob ${f.size}\0`);
  for await (const chunk of fs.createReadStream(part, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  const got = hash.digest('hex');
  const want = f.sha256 ?? f.oid;
  if (got !== want) {
    fs.rmSync(part, { force: true });
    throw new HubError('integrity', `${f.path} of ${repo.id} arrived damaged: its ${f.sha256 ? 'sha256' : 'git blob id'} is ${got}, but the Hub lists ${want}. Nothing of it was kept in the cache; retry the download.`);
  }
}
