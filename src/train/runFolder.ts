// A run folder (`.ulpt/runs/<run-id>/`) belongs to one run. It is created exclusively — never reused by a fresh
// run, never shared by two runs started together — and only `--resume` continues an existing one. A damaged
// folder is diagnosed file by file so the user learns what is wrong and what can still be used. Besides the
// training's own files, a run folder tells readers that were not there what happened: trainer.log (every
// TrainerMessage as a JSON line, plus anything the process printed), started.json (what the run started on) and
// failure.json (why it ended without finishing); lock.json and stop-request.json are src/train/runLock.ts's.
// Plain Node (no TensorFlow.js): the extension host and the CLI use it as well as the trainer.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { configProblemList, type TrainConfig } from '../config';
import { readAdapter } from '../io/adapter';
import { appendFileChecked, createFileExclusive, leftoverTempFiles, writeFileAtomic } from '../io/atomic';
import { SafetensorsFile } from '../io/safetensors';
import type { RunFailure, TrainerMessage } from '../protocol';
import { processAlive, readRunOwner, RUN_LOCK_FILE, STOP_REQUEST_FILE } from './runLock';

/** The files of a run folder (see README "The run folder"). */
export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  checkpoint: 'checkpoint.safetensors',
  best: 'best.ulpt',
  final: 'final.ulpt',
  summary: 'summary.json',
  failure: 'failure.json',
  started: 'started.json',
  log: 'trainer.log',
  lock: RUN_LOCK_FILE,
  stopRequest: STOP_REQUEST_FILE,
} as const;

/** Where runs go under a workspace (or the CLI's working directory). */
export const RUNS_DIR = path.join('.ulpt', 'runs');

/** A run folder that cannot be created, claimed or resumed; the message says which folder and why. */
export class RunFolderError extends Error {
  override name = 'RunFolderError';
}

/** A run folder whose files a resume needs are missing or damaged; the message holds the diagnosis. */
export class DamagedRunError extends Error {
  override name = 'DamagedRunError';
}

/** A name safe in a folder name on every OS: letters, digits, dot, dash, underscore. */
export function safeName(name: string): string {
  return name.trim().replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 80) || 'run';
}

const issued = new Set<string>();

/**
 * `2025-01-31_12-00-00_<name>-<4 hex>`: sortable by start time; never the same twice in one process, and random
 * across processes (claimRunFolder makes a clash between processes an error, never a mix).
 */
export function newRunId(name: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);
  for (;;) {
    const id = `${stamp}_${safeName(name)}-${randomBytes(2).toString('hex')}`;
    if (!issued.has(id)) {
      issued.add(id);
      return id;
    }
  }
}

/** A path under `runsDir` that does not exist yet (claimRunFolder still claims it exclusively). */
export function freshRunDir(runsDir: string, name: string, now = new Date()): string {
  for (let i = 0; i < 100; i++) {
    const dir = path.join(runsDir, newRunId(name, now));
    if (!fs.existsSync(dir)) return dir;
  }
  throw new RunFolderError(`Could not find a free run folder name under ${runsDir}.`);
}

/**
 * Why `dir` cannot become a new run's folder, or null when it can: it must not exist, or be an empty folder.
 * Checked before any work so a refused run costs nothing; claimRunFolder enforces it again, atomically.
 */
export function runFolderProblem(dir: string): string | null {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR' ? creatableProblem(dir) : `${dir} cannot be read (${(e as NodeJS.ErrnoException).code}).`;
  }
  if (!stat.isDirectory()) return `${dir} exists and is not a folder.`;
  const entries = fs.readdirSync(dir);
  if (entries.length === 0) return null;
  const shown = entries.slice(0, 4).join(', ') + (entries.length > 4 ? `, … (${entries.length} entries)` : '');
  const isRun = entries.includes(RUN_FILES.checkpoint) || entries.includes(RUN_FILES.metrics) || isRunConfig(path.join(dir, RUN_FILES.config));
  return isRun
    ? `${dir} already holds a run (${shown}); a fresh run never reuses a run folder. Continue it with --resume ${dir}, or choose a new folder.`
    : `${dir} is not empty (${shown}); a run folder must be new or empty, so nothing in it is overwritten. Choose a new folder.`;
}

/**
 * Why a file or folder cannot be created at `target`, or null: its nearest existing parent must be a folder this
 * process may write in (checked before any work, so a run is not refused by EACCES after training).
 */
export function creatableProblem(target: string, what = target): string | null {
  let dir = path.dirname(path.resolve(target));
  while (!fs.existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  try {
    if (!fs.statSync(dir).isDirectory()) return `${what} cannot be created: ${dir} is a file, not a folder.`;
    fs.accessSync(dir, fs.constants.W_OK);
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' ? 'is on a read-only file system' : code === 'EACCES' || code === 'EPERM' ? 'is not writable for this user' : `cannot be used (${code})`;
    return `${what} cannot be created: ${dir} ${why}.`;
  }
}

/**
 * Why `dir` is not a run folder, or null when it is one (it holds a run's files, even damaged ones). A model
 * folder has a config.json too, so that alone does not make a run.
 */
export function notRunFolder(dir: string): string | null {
  const runFiles = [RUN_FILES.checkpoint, RUN_FILES.metrics, RUN_FILES.summary, RUN_FILES.started, RUN_FILES.log, RUN_FILES.best, RUN_FILES.final, RUN_FILES.lock];
  if (runFiles.some((f) => fs.existsSync(path.join(dir, f))) || isRunConfig(path.join(dir, RUN_FILES.config))) return null;
  let modelType: unknown;
  try {
    modelType = (JSON.parse(fs.readFileSync(path.join(dir, RUN_FILES.config), 'utf8')) as { model_type?: unknown }).model_type;
  } catch {
    /* no config.json, or not JSON */
  }
  return typeof modelType === 'string'
    ? `${dir} is a model folder (its config.json describes a ${modelType} model), not a run folder.`
    : `${dir} is not a run folder: it has none of a run's files (${RUN_FILES.config} of a run, ${RUN_FILES.checkpoint}, ${RUN_FILES.metrics}).`;
}

/** A run's config.json (not, say, a model's): it names the training data and the method. */
function isRunConfig(file: string): boolean {
  try {
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    return typeof json.train === 'string' && typeof json.method === 'string';
  } catch {
    return false;
  }
}

/**
 * Makes `dir` this run's folder by creating its config.json exclusively (a hard link from a fully written temp
 * file: readers never see a half-written config, and of two runs claiming one folder exactly one wins).
 * Creates the folder (and its parents) when missing; returns the topmost folder it created (to remove them again
 * when the run fails before it has anything to keep). Throws RunFolderError when the folder is taken.
 */
export function claimRunFolder(dir: string, config: TrainConfig): { createdFrom: string | undefined } {
  const problem = runFolderProblem(dir);
  if (problem) throw new RunFolderError(problem);
  const created = fs.mkdirSync(dir, { recursive: true });
  let claimed: boolean;
  try {
    claimed = createFileExclusive(path.join(dir, RUN_FILES.config), JSON.stringify(config, null, 2) + '\n');
  } catch (e) {
    // A full disk at the start leaves nothing behind: the folders made here go again (only while still empty).
    if (created) removeEmptyFolders(dir, created);
    throw e;
  }
  if (!claimed) throw new RunFolderError(`${dir} was just taken by another run; start again (a new folder is chosen).`);
  return { createdFrom: created };
}

/** Removes `dir` and its parents up to and including `top` while they are empty (rmdir never removes content). */
export function removeEmptyFolders(dir: string, top: string): void {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      fs.rmdirSync(d);
    } catch {
      return;
    }
    if (d === path.resolve(top) || path.dirname(d) === d) return;
  }
}

// ---- Diagnosis

export type FileState = 'ok' | 'missing' | 'damaged';

export interface FileReport {
  file: string;
  state: FileState;
  /** What is in it (ok) or what is wrong (damaged). */
  detail: string;
}

export interface RunDiagnosis {
  dir: string;
  files: FileReport[];
  /** config.json parsed and valid, else null. */
  config: TrainConfig | null;
  /** The checkpoint's step when it is readable, else null. */
  checkpointStep: number | null;
  /** Resumable: valid config and readable checkpoint. */
  resumable: boolean;
  /** Files a user can still use as they are, with how ("best.ulpt: adapter from step 150, accuracy 0.92"). */
  usable: string[];
  /** Who trains the run now (lock.json): a live process, a stale lock and why, or nobody. */
  owner: { state: 'alive' | 'stale' | 'none'; detail: string };
  /** Temp files a killed write left (removed by the next resume). */
  tempFiles: string[];
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

function checkConfig(dir: string): { report: FileReport; config: TrainConfig | null } {
  const file = path.join(dir, RUN_FILES.config);
  if (!fs.existsSync(file)) return { report: { file: RUN_FILES.config, state: 'missing', detail: 'no config.json' }, config: null };
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return { report: { file: RUN_FILES.config, state: 'damaged', detail: `not valid JSON (${firstLine(e)})` }, config: null };
  }
  const problems = typeof raw === 'object' && raw !== null ? configProblemList(raw) : [{ field: '(config)', message: 'must be an object' }];
  const requiredPaths = ['model', 'train', 'out'].filter((k) => typeof (raw as Record<string, unknown>)?.[k] !== 'string');
  for (const k of requiredPaths) if (!problems.some((p) => p.field === k)) problems.push({ field: k, message: 'is missing' });
  if (problems.length) {
    return { report: { file: RUN_FILES.config, state: 'damaged', detail: problems.map((p) => `${p.field} ${p.message}`).join('; ') }, config: null };
  }
  const config = raw as TrainConfig;
  return { report: { file: RUN_FILES.config, state: 'ok', detail: `${config.method}, ${config.steps} steps` }, config };
}

function checkCheckpoint(dir: string): { report: FileReport; step: number | null } {
  const file = path.join(dir, RUN_FILES.checkpoint);
  if (!fs.existsSync(file)) return { report: { file: RUN_FILES.checkpoint, state: 'missing', detail: 'no checkpoint' }, step: null };
  try {
    const st = SafetensorsFile.open(file);
    try {
      const meta = st.header.metadata['ulpt-checkpoint'];
      if (!meta) throw new Error('no "ulpt-checkpoint" metadata');
      const step = (JSON.parse(meta) as { step?: unknown }).step;
      if (typeof step !== 'number' || !Number.isInteger(step) || step < 0) throw new Error('its step counter is missing');
      for (const key of st.keys()) {
        // Every tensor readable, and finite: a NaN checkpoint would only resume a diverged run.
        const bad = st.float32(key).findIndex((x) => !Number.isFinite(x));
        if (bad >= 0) throw new Error(`its tensor ${key} holds non-finite values (NaN or infinite, first at ${bad}): the run diverged before it was saved`);
      }
      return { report: { file: RUN_FILES.checkpoint, state: 'ok', detail: `step ${step}` }, step };
    } finally {
      st.close();
    }
  } catch (e) {
    return { report: { file: RUN_FILES.checkpoint, state: 'damaged', detail: firstLine(e) }, step: null };
  }
}

function checkMetrics(dir: string): FileReport {
  const file = path.join(dir, RUN_FILES.metrics);
  if (!fs.existsSync(file)) return { file: RUN_FILES.metrics, state: 'missing', detail: 'no metrics yet' };
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  let good = 0;
  let lastStep = 0;
  const bad: number[] = [];
  lines.forEach((l, i) => {
    if (!l.trim()) return;
    try {
      const m = JSON.parse(l) as { step?: unknown };
      if (typeof m.step !== 'number') throw new Error('no step');
      good++;
      lastStep = Math.max(lastStep, m.step);
    } catch {
      bad.push(i + 1);
    }
  });
  // A torn last line is what a crash mid-write leaves; resume drops it. Anything else is damage.
  const tornLastOnly = bad.length === 1 && bad[0] === lines.length - (lines.at(-1) === '' ? 1 : 0);
  if (bad.length && !tornLastOnly) return { file: RUN_FILES.metrics, state: 'damaged', detail: `unreadable line${bad.length > 1 ? 's' : ''} ${bad.slice(0, 5).join(', ')}; ${good} lines readable, up to step ${lastStep}` };
  return { file: RUN_FILES.metrics, state: 'ok', detail: `${good} lines up to step ${lastStep}${tornLastOnly ? ' (a torn last line, dropped on resume)' : ''}` };
}

function checkAdapter(dir: string, name: string): { report: FileReport; usable: string | null } {
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) return { report: { file: name, state: 'missing', detail: 'not written' }, usable: null };
  try {
    const { meta } = readAdapter(file);
    const metrics = Object.entries(meta.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ');
    const detail = `adapter from step ${String(meta.training.steps_done ?? '?')}${metrics ? `, ${metrics}` : ''}`;
    return { report: { file: name, state: 'ok', detail }, usable: `${file}: ${detail} — usable with ulpt predict/eval --adapter` };
  } catch (e) {
    return { report: { file: name, state: 'damaged', detail: firstLine(e).replace(file + ': ', '') }, usable: null };
  }
}

function checkSummary(dir: string): FileReport {
  const file = path.join(dir, RUN_FILES.summary);
  if (!fs.existsSync(file)) return { file: RUN_FILES.summary, state: 'missing', detail: 'the run has not finished' };
  try {
    const s = JSON.parse(fs.readFileSync(file, 'utf8')) as { reason?: string; steps?: number };
    return { file: RUN_FILES.summary, state: 'ok', detail: `${s.reason ?? '?'} after ${s.steps ?? '?'} steps` };
  } catch (e) {
    return { file: RUN_FILES.summary, state: 'damaged', detail: `not valid JSON (${firstLine(e)})` };
  }
}

/** Reads every file of a run folder and says what is wrong and what can still be used. Never throws for damage. */
export function diagnoseRun(dir: string): RunDiagnosis {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new RunFolderError(`${dir} is not a folder.`);
  const config = checkConfig(dir);
  const checkpoint = checkCheckpoint(dir);
  const best = checkAdapter(dir, RUN_FILES.best);
  const final = checkAdapter(dir, RUN_FILES.final);
  const files = [config.report, checkpoint.report, checkMetrics(dir), best.report, final.report, checkSummary(dir)];
  const usable = [best.usable, final.usable].filter((u): u is string => !!u);
  if (checkpoint.step !== null) usable.push(`${path.join(dir, RUN_FILES.checkpoint)}: step ${checkpoint.step}${config.config ? ' — resumable' : ' — resumable once config.json is repaired'}`);
  return {
    dir, files, config: config.config, checkpointStep: checkpoint.step, resumable: config.config !== null && checkpoint.step !== null, usable,
    owner: ownerOf(dir), tempFiles: leftoverTempFiles(dir),
  };
}

function ownerOf(dir: string): RunDiagnosis['owner'] {
  const owner = readRunOwner(dir);
  if (owner.state === 'none') return { state: 'none', detail: 'no process trains it' };
  if (owner.state === 'stale') return { state: 'stale', detail: owner.reason };
  const l = owner.lock;
  return { state: 'alive', detail: `trained now by ${l.owner} (pid ${l.pid} on ${l.host}, since ${l.startedAt})${owner.stopRequested ? ', asked to stop' : ''}` };
}

/**
 * Removes the temp files a killed write left in `dir` (for `file`'s temp files only, when given), except those of
 * a process that still runs (it may be writing them now). Returns the names removed.
 */
export function removeLeftoverTempFiles(dir: string, file?: string): string[] {
  const removed: string[] = [];
  for (const name of leftoverTempFiles(dir)) {
    if (file !== undefined && !name.startsWith(`${path.basename(file)}.`)) continue;
    const pid = Number(/\.(\d+)\.[^.]+\.tmp$/.exec(name)?.[1]);
    if (Number.isSafeInteger(pid) && pid > 0 && processAlive(pid)) continue;
    try {
      fs.rmSync(path.join(dir, name));
      removed.push(name);
    } catch {
      /* gone already */
    }
  }
  return removed;
}

/** The diagnosis for people: one line per damaged or missing file that matters, then what can still be used. */
export function describeDiagnosis(d: RunDiagnosis): string {
  const wrong = d.files.filter((f) => f.state === 'damaged' || (f.state === 'missing' && (f.file === RUN_FILES.config || f.file === RUN_FILES.checkpoint)));
  const lines = wrong.map((f) => `  ${f.file}: ${f.state === 'missing' ? 'missing' : `damaged — ${f.detail}`}`);
  const usable = d.usable.length ? `\nStill usable:\n${d.usable.map((u) => `  ${u}`).join('\n')}` : '\nNothing in it can be used.';
  return `${d.dir}:\n${lines.join('\n')}${usable}`;
}

// ---- What readers that were not there need: the log, what the run started on, why it failed

export type StartedMessage = Extract<TrainerMessage, { type: 'started' }>;

/**
 * One message as a line of trainer.log, whole or not at all. Best effort: a log that cannot be written must not
 * end the run (the run itself reports a full disk when it writes its metrics and checkpoints).
 */
export function appendLogMessage(runDir: string, m: TrainerMessage): void {
  try {
    appendFileChecked(path.join(runDir, RUN_FILES.log), JSON.stringify(m) + '\n');
  } catch {
    /* the folder went away or the disk is full: cut back to whole lines by appendFileChecked */
  }
}

export function writeStarted(runDir: string, m: StartedMessage): void {
  writeFileAtomic(path.join(runDir, RUN_FILES.started), JSON.stringify(m, null, 2) + '\n');
}

export function readStarted(runDir: string): StartedMessage | null {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(runDir, RUN_FILES.started), 'utf8')) as StartedMessage;
    return m?.type === 'started' ? m : null;
  } catch {
    return null;
  }
}

/**
 * A fault in the program (a TypeError, an assertion…) rather than in what the user gave it. Errors written for
 * people (bad config, bad dataset, a missing file, a model that does not fit) are plain Errors or named ones
 * (ConfigError, DatasetError); only the others deserve a stack trace in a log.
 */
export function isInternalError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  return e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError || e instanceof SyntaxError && !/JSON/.test(e.message);
}

export function failureOf(e: unknown, step: number): RunFailure {
  const err = e instanceof Error ? e : new Error(String(e));
  const internal = isInternalError(err);
  return { message: err.message, tail: [], step, time: new Date().toISOString(), internal, ...(internal && err.stack ? { stack: err.stack } : {}) };
}

/** failure.json: why the run ended without finishing. Best effort, like the log. */
export function writeFailure(runDir: string, failure: RunFailure): void {
  try {
    writeFileAtomic(path.join(runDir, RUN_FILES.failure), JSON.stringify(failure, null, 2) + '\n');
  } catch {
    /* the run folder is gone or read-only; the failure is still reported where the run was started */
  }
}

/** The last `n` lines of trainer.log that are not messages (what the process printed: warnings, a crash). */
export function logTail(runDir: string, n = 20): string[] {
  let text = '';
  try {
    const file = path.join(runDir, RUN_FILES.log);
    const size = fs.statSync(file).size;
    const fd = fs.openSync(file, 'r');
    try {
      const len = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
      text = buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return [];
  }
  return text.split(/\r?\n/).filter((l) => l.trim() && !l.startsWith('{"type":')).slice(-n);
}
