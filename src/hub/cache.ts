// The Hugging Face cache on disk, laid out exactly as huggingface_hub lays it out, so that what `transformers` (and
// the PyTorch engine) downloaded is reused here and what is downloaded here is found there:
//
//   <cache>/models--<org>--<name>/blobs/<etag>                 the file's bytes (etag: sha256 for LFS files, the git
//                                                              blob sha1 otherwise)
//   <cache>/models--<org>--<name>/snapshots/<commit>/<path>    a relative symlink to ../../blobs/<etag>
//   <cache>/models--<org>--<name>/refs/<branch or tag>         the commit it pointed to when last seen
//   <cache>/.locks/models--<org>--<name>/<etag>.ulpt-lock      held while one process downloads that blob
//   <cache>/datasets--<org>--<name>/ulpt-listings/<commit>.json  the commit's file names, for globs (ours)
// Datasets are the same under datasets--<org>--<name>.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createFileExclusive, writeFileAtomic } from '../io/atomic';

export type RepoType = 'model' | 'dataset';

/** A repository at a revision (a branch, a tag or a 40-hex commit). */
export interface RepoRef {
  type: RepoType;
  /** "org/name" */
  id: string;
  revision: string;
}

export const COMMIT = /^[0-9a-f]{40}$/;

const TRUE_VALUES = new Set(['1', 'ON', 'YES', 'TRUE']);

/** HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) set as huggingface_hub reads it: 1, on, yes, true. */
export function hubOffline(env: NodeJS.ProcessEnv = process.env): boolean {
  return [env.HF_HUB_OFFLINE, env.TRANSFORMERS_OFFLINE].some((v) => v !== undefined && TRUE_VALUES.has(v.trim().toUpperCase()));
}

/** $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function hfHome(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string {
  if (env.HF_HOME) return path.resolve(expandHome(env.HF_HOME, home));
  return path.join(env.XDG_CACHE_HOME ? path.resolve(expandHome(env.XDG_CACHE_HOME, home)) : path.join(home, '.cache'), 'huggingface');
}

/**
 * The hub cache: $HF_HUB_CACHE (or the older HUGGINGFACE_HUB_CACHE), else <HF_HOME>/hub. The one definition: the
 * extension's model pickers (discovery.ts hfHubCacheDir), downloads, the trainer and `ulpt models` all read it.
 */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string {
  const direct = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
  return direct ? path.resolve(expandHome(direct, home)) : path.join(hfHome(env, home), 'hub');
}

function expandHome(p: string, home: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(home, p.slice(1)) : p;
}

/** "models--org--name": the repo's folder name in the cache. */
export function repoFolderName(type: RepoType, id: string): string {
  return [`${type}s`, ...id.split('/')].join('--');
}

/** One repository's folders in a cache. */
export class RepoCache {
  readonly root: string;
  readonly locks: string;
  constructor(readonly cacheDir: string, readonly type: RepoType, readonly id: string) {
    this.root = path.join(cacheDir, repoFolderName(type, id));
    this.locks = path.join(cacheDir, '.locks', repoFolderName(type, id));
  }
  blob(etag: string): string {
    return path.join(this.root, 'blobs', etag);
  }
  incomplete(etag: string): string {
    return `${this.blob(etag)}.incomplete`;
  }
  snapshot(commit: string): string {
    return path.join(this.root, 'snapshots', commit);
  }
  /** The snapshot's path of a repo file; refuses a path that would leave the snapshot ("../x"). */
  pointer(commit: string, file: string): string {
    const snap = this.snapshot(commit);
    const p = path.join(snap, ...file.split('/'));
    if (!p.startsWith(snap + path.sep)) throw new Error(`${this.id}: the file name ${JSON.stringify(file)} points outside the repository.`);
    return p;
  }
  /**
   * The repository's file names at a commit, as the Hub listed them when this cache last asked (null: never asked
   * here). A commit never changes, so the list stays true; it tells a cache-only answer whether every file a glob
   * names is in the snapshot, not just those an interrupted download got to. Kept beside the cache's own folders
   * (huggingface_hub reads only blobs/, refs/ and snapshots/).
   */
  listing(commit: string): string[] | null {
    try {
      const files = JSON.parse(fs.readFileSync(this.listingFile(commit), 'utf8')) as unknown;
      return Array.isArray(files) && files.every((f) => typeof f === 'string') ? (files as string[]) : null;
    } catch {
      return null;
    }
  }
  writeListing(commit: string, files: string[]): void {
    if (this.listing(commit)) return;
    writeFileAtomic(this.listingFile(commit), JSON.stringify(files));
  }
  private listingFile(commit: string): string {
    return path.join(this.root, 'ulpt-listings', `${commit}.json`);
  }
  /** The commit refs/<revision> records, or null. A commit hash is its own answer. */
  commitOf(revision: string): string | null {
    if (COMMIT.test(revision)) return revision;
    try {
      const text = fs.readFileSync(path.join(this.root, 'refs', ...revision.split('/')), 'utf8').trim();
      return COMMIT.test(text) ? text : null;
    } catch {
      return null;
    }
  }
  /** Records that `revision` pointed to `commit` (nothing to record for a commit hash), atomically. */
  writeRef(revision: string, commit: string): void {
    if (revision === commit) return;
    const file = path.join(this.root, 'refs', ...revision.split('/'));
    try {
      if (fs.readFileSync(file, 'utf8') === commit) return;
    } catch {
      /* not recorded yet */
    }
    writeFileAtomic(file, commit);
  }
  /**
   * Points snapshots/<commit>/<file> at its blob with a relative symlink (huggingface_hub's form, so the cache can be
   * moved). Made beside the target and renamed over it, so a reader never sees a missing or half-made link.
   */
  link(commit: string, file: string, etag: string): string {
    const pointer = this.pointer(commit, file);
    fs.mkdirSync(path.dirname(pointer), { recursive: true });
    const target = path.relative(path.dirname(pointer), this.blob(etag));
    try {
      if (fs.readlinkSync(pointer) === target) return pointer;
    } catch {
      /* absent, or a plain file */
    }
    const tmp = `${pointer}.${process.pid}.${Math.random().toString(16).slice(2, 10)}.tmp`;
    fs.symlinkSync(target, tmp);
    fs.renameSync(tmp, pointer);
    return pointer;
  }
}

/** Which process holds a blob's download lock. */
interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

function ownerAlive(owner: LockOwner | null): boolean {
  if (!owner) return true; // being written this instant: treat as held
  if (owner.host !== os.hostname()) return true; // another machine on a shared disk: cannot tell, wait
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseOwner(text: string): LockOwner | null {
  try {
    return JSON.parse(text.split('\n')[0]) as LockOwner;
  } catch {
    return null;
  }
}

/**
 * Runs `work` while holding the download lock of one blob: two downloads of one repository (two processes, or two
 * calls in one) never write the same .incomplete file at once; the second waits, then finds the blob in place. A
 * lock left by a process that died is taken over. Our own lock file name (not huggingface_hub's `<etag>.lock`,
 * which it keeps after use) keeps the two clients from waiting on each other forever; both write a blob only by
 * renaming a complete, verified file, so neither can see a torn one.
 */
export async function withBlobLock<T>(repo: RepoCache, etag: string, signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  fs.mkdirSync(repo.locks, { recursive: true });
  const file = path.join(repo.locks, `${etag}.ulpt-lock`);
  const me: LockOwner = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
  const token = JSON.stringify(me) + `\n${Math.random()}`;
  for (let wait = 20; ; wait = Math.min(wait * 2, 500)) {
    if (createFileExclusive(file, token)) break;
    const seen = readOwnerText(file);
    // A dead holder's lock is removed, if it is still the same lock a moment later (another waiter may have
    // taken it over meanwhile).
    if (seen !== null && !ownerAlive(parseOwner(seen)) && readOwnerText(file) === seen) fs.rmSync(file, { force: true });
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('cancelled');
    await new Promise((r) => setTimeout(r, wait));
  }
  try {
    return await work();
  } finally {
    // Only our own lock is removed (a takeover by another process would have replaced the file).
    if (readOwnerText(file) === token) fs.rmSync(file, { force: true });
  }
}

function readOwnerText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** Free bytes for an unprivileged writer on the file system that holds `dir` (its nearest existing parent). */
export function freeBytes(dir: string): number | null {
  let d = path.resolve(dir);
  while (!fs.existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  try {
    const s = fs.statfsSync(d);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}
