// Who trains a run folder right now. The process that trains a run (the CLI in a terminal, or the trainer the
// extension starts detached from its window) holds `lock.json` in the run folder: its pid, an identity that tells
// that pid apart from a later process reusing it, the host, and a heartbeat it rewrites every few seconds. Any
// reader (another window, a reloaded one, the CLI) can then tell a live run from one whose process is gone, and
// ask it to stop with `stop-request.json`, which the trainer reads between steps. No IPC: the run folder is the
// only channel, so a run outlives the window that started it.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { createFileExclusive, writeFileAtomic } from '../io/atomic';

export const RUN_LOCK_FILE = 'lock.json';
export const STOP_REQUEST_FILE = 'stop-request.json';
/** How often the owner rewrites its heartbeat. */
export const HEARTBEAT_MS = 5_000;
/** A heartbeat older than this means the owner is gone (used when its process cannot be checked directly). */
export const STALE_MS = 30_000;
/**
 * A damaged lock.json (empty, not JSON) younger than this may still be being written by a tool that writes in
 * place; older, it is what a process killed while taking the lock left, and it is stale.
 */
export const DAMAGED_GRACE_MS = 2_000;

export interface RunLock {
  version: 1;
  pid: number;
  /**
   * What makes the pid this process and not a later one that reuses the number: on Linux the boot id and the
   * process start time (clock ticks since boot), on macOS the start time `ps` reports; null where unknown.
   */
  processId: string | null;
  host: string;
  /** Who trains: "ulpt train" (a terminal) or "ULPT Studio" (the extension's detached trainer). */
  owner: string;
  startedAt: string;
  /** Rewritten every HEARTBEAT_MS while the process lives (from a worker thread, so a long step does not delay it). */
  heartbeat: string;
  /** Random: a heartbeat only rewrites the lock that is still its own. */
  token: string;
}

/** What a reader finds in a run folder. */
export type RunOwner =
  | { state: 'none' }
  | { state: 'alive'; lock: RunLock; stopRequested: boolean }
  /** lock: null when lock.json itself is damaged (empty or not a lock: a process killed while taking it). */
  | { state: 'stale'; lock: RunLock | null; reason: string };

export class RunBusyError extends Error {
  override name = 'RunBusyError';
}

// ---- Process identity

let bootId: string | null | undefined;

/** The identity of a live process (see RunLock.processId), or null when this platform cannot tell or it is gone. */
export function processIdentity(pid: number): string | null {
  if (process.platform === 'linux') {
    try {
      bootId ??= fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces and parentheses): state is field 3, starttime field 22.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return `linux:${bootId}:${fields[19]}`;
    } catch {
      return null;
    }
  }
  if (process.platform === 'darwin') {
    try {
      const out = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8', timeout: 2_000 }).trim();
      return out ? `darwin:${out}` : null;
    } catch {
      return null;
    }
  }
  return null;
}

/** Whether a process runs: it exists and (on Linux) is not a zombie waiting to be reaped by its parent. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false; // EPERM: alive, owned by someone else
  }
  if (process.platform === 'linux') {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      return state !== 'Z' && state !== 'X';
    } catch {
      return false;
    }
  }
  return true;
}

// ---- Reading

export function readRunLock(runDir: string): RunLock | null {
  try {
    return parseLock(fs.readFileSync(path.join(runDir, RUN_LOCK_FILE), 'utf8'));
  } catch {
    return null; // absent, or a torn write by a foreign tool: no owner can be shown
  }
}

function parseLock(text: string): RunLock | null {
  try {
    const lock = JSON.parse(text) as RunLock;
    return lock && Number.isSafeInteger(lock.pid) && typeof lock.host === 'string' ? lock : null;
  } catch {
    return null;
  }
}

/** Why an existing lock.json that holds no lock is stale, or null while it may still be being written. */
function damagedLock(file: string, now: number): string | null {
  let stat: fs.Stats;
  let text: string;
  try {
    stat = fs.statSync(file);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? null : `${RUN_LOCK_FILE} cannot be read (${code ?? (e as Error).message}); no process can be shown to own the run.`;
  }
  if (now - stat.mtimeMs < DAMAGED_GRACE_MS) return null;
  const what = text.trim() ? 'is not a lock (not the JSON a trainer writes)' : 'is empty';
  return `${RUN_LOCK_FILE} ${what}: the process that took it was ended while writing it, so no process owns the run.`;
}

const ago = (iso: string, now: number) => {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `at ${iso}`;
};

/** Whether the process in `lock` still trains; if not, why not, in words. */
export function checkOwner(lock: RunLock, now = Date.now()): { alive: true } | { alive: false; reason: string } {
  const beat = Date.parse(lock.heartbeat);
  const fresh = Number.isFinite(beat) && now - beat < STALE_MS;
  const who = `the trainer process (pid ${lock.pid}, ${lock.owner})`;
  if (lock.host !== os.hostname()) {
    return fresh ? { alive: true } : { alive: false, reason: `${who} on ${lock.host} has not written a heartbeat since ${ago(lock.heartbeat, now)}.` };
  }
  if (!processAlive(lock.pid)) return { alive: false, reason: `${who} is gone: it ended without finishing (last heartbeat ${ago(lock.heartbeat, now)}).` };
  const id = lock.processId ? processIdentity(lock.pid) : null;
  if (lock.processId && id && id !== lock.processId) {
    return { alive: false, reason: `${who} is gone (pid ${lock.pid} now belongs to another process; last heartbeat ${ago(lock.heartbeat, now)}).` };
  }
  if (!id && !fresh) return { alive: false, reason: `${who} has not written a heartbeat since ${ago(lock.heartbeat, now)}.` };
  return { alive: true };
}

export function readRunOwner(runDir: string, now = Date.now()): RunOwner {
  const lock = readRunLock(runDir);
  if (!lock) {
    const file = path.join(runDir, RUN_LOCK_FILE);
    const damaged = fs.existsSync(file) ? damagedLock(file, now) : null;
    return damaged ? { state: 'stale', lock: null, reason: damaged } : { state: 'none' };
  }
  const check = checkOwner(lock, now);
  if (!check.alive) return { state: 'stale', lock, reason: check.reason };
  return { state: 'alive', lock, stopRequested: pendingStopRequest(runDir, lock) !== null };
}

// ---- Asking the owner to stop

export interface StopRequest {
  requestedAt: string;
  by: string;
  /** Set when stop-request.json was empty or not JSON: it still asks to stop (its time is the file's), with this warning. */
  damaged?: string;
}

/** Asks whoever trains the run to stop after its current step (it keeps a checkpoint). */
export function requestStop(runDir: string, by: string): void {
  const request: StopRequest = { requestedAt: new Date().toISOString(), by };
  writeFileAtomic(path.join(runDir, STOP_REQUEST_FILE), JSON.stringify(request) + '\n');
}

/** A stop request addressed to this owner: written after its process started (an older one is left over). */
function pendingStopRequest(runDir: string, lock: Pick<RunLock, 'startedAt'>, processStart?: number): StopRequest | null {
  const file = path.join(runDir, STOP_REQUEST_FILE);
  let request: StopRequest;
  try {
    const text = fs.readFileSync(file, 'utf8');
    try {
      request = JSON.parse(text) as StopRequest;
      if (typeof request?.requestedAt !== 'string' || !Number.isFinite(Date.parse(request.requestedAt))) throw new Error('no requestedAt');
    } catch {
      // Someone asked to stop, by hand or with a tool that wrote it badly: the file's own time says when.
      const what = text.trim() ? 'is not the JSON a stop request holds' : 'is empty';
      request = { requestedAt: fs.statSync(file).mtime.toISOString(), by: 'unknown', damaged: `${STOP_REQUEST_FILE} ${what}; it is taken as a request to stop.` };
    }
  } catch {
    return null; // absent (or unreadable)
  }
  const since = processStart ?? Date.parse(lock.startedAt);
  return Date.parse(request.requestedAt) >= since - 1_000 ? request : null;
}

/**
 * Ends the owner at once (a second Stop): SIGKILL to its pid, after checking that the pid is still the process
 * that holds the lock. Returns what happened, in words, or throws when it cannot be done from here.
 */
export function killRunOwner(runDir: string): string {
  const owner = readRunOwner(runDir);
  if (owner.state !== 'alive') return 'the trainer process had already ended';
  const { lock } = owner;
  if (lock.host !== os.hostname()) throw new Error(`The run is trained on ${lock.host} (pid ${lock.pid}); it can only be ended from there.`);
  process.kill(lock.pid, 'SIGKILL');
  return `ended the trainer process (pid ${lock.pid}) at once`;
}

// ---- Holding the lock

export interface RunLockHandle {
  readonly lock: RunLock;
  /** True once someone asked this run to stop (stop-request.json newer than this process). Cheap: one stat. */
  stopRequested(): boolean;
  /** The request that stopped the run, once stopRequested() is true. */
  stopRequest(): StopRequest | null;
  /** Removes the lock (if it is still ours) and any stop request it answered. */
  release(): void;
}

const HEARTBEAT_WORKER = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { file, token, intervalMs } = workerData;
setInterval(() => {
  try {
    const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (lock.token !== token) return;
    lock.heartbeat = new Date().toISOString();
    const tmp = file + '.' + process.pid + '.heartbeat.tmp';
    try {
      // writeFileSync writes every byte or throws; the lock is only replaced by a whole file.
      fs.writeFileSync(tmp, JSON.stringify(lock, null, 2) + '\\n');
      fs.renameSync(tmp, file);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
  } catch {}
}, intervalMs);
`;

/**
 * Takes the run folder for this process. Fails with RunBusyError when a live process holds it; a stale lock (its
 * process gone) is replaced. The heartbeat runs until release().
 */
export function acquireRunLock(runDir: string, owner: string, opts: { heartbeatMs?: number } = {}): RunLockHandle {
  fs.mkdirSync(runDir, { recursive: true });
  const file = path.join(runDir, RUN_LOCK_FILE);
  const current = readRunOwner(runDir);
  if (current.state === 'alive') {
    const l = current.lock;
    throw new RunBusyError(`${runDir} is already being trained by ${l.owner} (pid ${l.pid} on ${l.host}, since ${l.startedAt}).`);
  }
  if (current.state === 'stale') fs.rmSync(file, { force: true });
  const now = new Date().toISOString();
  const lock: RunLock = {
    version: 1, pid: process.pid, processId: processIdentity(process.pid), host: os.hostname(), owner, startedAt: now, heartbeat: now,
    token: randomBytes(8).toString('hex'),
  };
  // Created whole or not at all (a hard link from a complete temp file): a kill while taking the lock never leaves
  // an empty lock.json.
  if (!createFileExclusive(file, JSON.stringify(lock, null, 2) + '\n')) {
    const l = readRunLock(runDir);
    throw new RunBusyError(`${runDir} was just taken by ${l ? `${l.owner} (pid ${l.pid})` : 'another process'}.`);
  }
  const processStart = Date.now() - process.uptime() * 1000;
  const stopFile = path.join(runDir, STOP_REQUEST_FILE);
  // A request left from an earlier attempt must not stop this one.
  if (fs.existsSync(stopFile) && !pendingStopRequest(runDir, lock, processStart)) fs.rmSync(stopFile, { force: true });
  const heartbeat = startHeartbeat(file, lock.token, opts.heartbeatMs ?? HEARTBEAT_MS);
  let stopSeen = false;
  let seenRequest: StopRequest | null = null;
  let released = false;
  return {
    lock,
    stopRequested() {
      if (!stopSeen && fs.existsSync(stopFile)) {
        seenRequest = pendingStopRequest(runDir, lock, processStart);
        stopSeen = seenRequest !== null;
      }
      return stopSeen;
    },
    stopRequest() {
      return seenRequest;
    },
    release() {
      if (released) return;
      released = true;
      heartbeat.stop();
      if (readRunLock(runDir)?.token === lock.token) fs.rmSync(file, { force: true });
      if (stopSeen) fs.rmSync(stopFile, { force: true });
    },
  };
}

/** A worker thread keeps the heartbeat going while the main thread is busy in a long synchronous step. */
function startHeartbeat(file: string, token: string, intervalMs: number): { stop(): void } {
  try {
    const worker = new Worker(HEARTBEAT_WORKER, { eval: true, workerData: { file, token, intervalMs } });
    worker.unref();
    worker.on('error', () => undefined); // a failed heartbeat only makes the lock look stale sooner
    return { stop: () => void worker.terminate() };
  } catch {
    const timer = setInterval(() => {
      try {
        const lock = JSON.parse(fs.readFileSync(file, 'utf8')) as RunLock;
        if (lock.token !== token) return;
        writeFileAtomic(file, JSON.stringify({ ...lock, heartbeat: new Date().toISOString() }, null, 2) + '\n');
      } catch {
        /* as above */
      }
    }, intervalMs);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }
}
