// The runs on disk, read without VS Code: `.ulpt/runs/<run-id>/` as the trainer writes it (config.json,
// metrics.jsonl, checkpoint.safetensors, best.ulpt, final.ulpt, summary.json, started.json, trainer.log, lock.json
// while a process trains it) plus failure.json. Parsing is forgiving where the files can legitimately be odd (a torn
// last line while the trainer writes, repeated steps after a resume) and strict nowhere else.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrainConfig } from '../../src/config';
import type { BaselinePoint, EvalPoint, RunFailure, RunHeader, RunPoints, RunStatus, RunSummary, StartedInfo, StepPoint } from '../../src/protocol';
import { readStarted, RUN_FILES, type StartedMessage } from '../../src/train/runFolder';
import { readRunOwner, type RunOwner } from '../../src/train/runLock';

export { RUNS_DIR } from '../../src/train/runFolder';
export const FILES = RUN_FILES;

// ---- metrics.jsonl

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function asStep(o: Record<string, unknown>): StepPoint | null {
  if (!isNum(o.step) || !isNum(o.loss)) return null;
  const num = (k: string) => (isNum(o[k]) ? (o[k] as number) : 0);
  return { step: o.step, loss: o.loss, lr: num('lr'), gradNorm: num('gradNorm'), tokens: num('tokens'), tokensPerSecond: num('tokensPerSecond'), elapsedMs: num('elapsedMs') };
}

function asEval(o: Record<string, unknown>): EvalPoint | null {
  if (!isNum(o.step) || !isNum(o.loss)) return null;
  const metrics: Record<string, number> = {};
  if (o.metrics && typeof o.metrics === 'object') for (const [k, v] of Object.entries(o.metrics)) if (isNum(v)) metrics[k] = v;
  const metric = typeof o.metric === 'string' ? o.metric : Object.keys(metrics)[0] ?? '';
  return { step: o.step, loss: o.loss, metrics, metric, value: isNum(o.value) ? o.value : metrics[metric] ?? NaN, best: o.best === true };
}

function asBaseline(o: Record<string, unknown>): BaselinePoint | null {
  if (!isNum(o.loss)) return null;
  const metrics: Record<string, number> = {};
  if (o.metrics && typeof o.metrics === 'object') for (const [k, v] of Object.entries(o.metrics)) if (isNum(v)) metrics[k] = v;
  return { loss: o.loss, metrics };
}

/**
 * Accumulates metrics lines. A step seen again (a resumed run repeats the steps after its checkpoint) replaces the
 * earlier point, so the curves never fold back on themselves.
 */
export class MetricsAccumulator {
  private readonly train = new Map<number, StepPoint>();
  private readonly evals = new Map<number, EvalPoint>();
  private baseline: BaselinePoint | null = null;
  /** Lines that were not metrics (a torn write in the middle, a foreign line); counted, not fatal. */
  skipped = 0;

  /** Adds complete lines; returns the points they contained (in file order). */
  add(lines: Iterable<string>): RunPoints {
    const out: RunPoints = { train: [], eval: [], baseline: null };
    for (const line of lines) {
      if (!line.trim()) continue;
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch {
        this.skipped++;
        continue;
      }
      const rec = o as Record<string, unknown>;
      if (!o || typeof o !== 'object' || Array.isArray(o) || typeof rec.type !== 'string') {
        this.skipped++;
        continue;
      }
      if (rec.type === 'train') {
        const p = asStep(rec);
        if (p) (this.train.set(p.step, p), out.train.push(p));
        else this.skipped++;
      } else if (rec.type === 'eval') {
        const p = asEval(rec);
        if (p) (this.evals.set(p.step, p), out.eval.push(p));
        else this.skipped++;
      } else if (rec.type === 'baseline') {
        const p = asBaseline(rec);
        if (p) this.baseline = out.baseline = p;
        else this.skipped++;
      } // other types: written by a newer engine; ignored on purpose
    }
    return out;
  }

  points(): RunPoints {
    const byStep = <T extends { step: number }>(m: Map<number, T>) => [...m.values()].sort((a, b) => a.step - b.step);
    return { train: byStep(this.train), eval: byStep(this.evals), baseline: this.baseline };
  }

  get lastStep(): number {
    let last = 0;
    for (const s of this.train.keys()) last = Math.max(last, s);
    return last;
  }
}

/**
 * Splits text into complete lines and the unfinished rest. A last line without its newline may be half written;
 * it is held back until the newline arrives (or, for a finished file, tried once by the caller).
 */
export function splitLines(text: string): { lines: string[]; rest: string } {
  const end = text.lastIndexOf('\n');
  if (end < 0) return { lines: [], rest: text };
  return { lines: text.slice(0, end).split('\n'), rest: text.slice(end + 1) };
}

/** Parses a whole metrics.jsonl; a torn last line is dropped (counted in `skipped` only if it is not valid JSON). */
export function parseMetrics(text: string): RunPoints & { skipped: number; lastStep: number } {
  const acc = new MetricsAccumulator();
  const { lines, rest } = splitLines(text);
  acc.add(lines);
  if (rest.trim()) {
    // Valid JSON without its newline is a complete record whose newline has not landed yet; anything else is torn.
    try {
      JSON.parse(rest);
      acc.add([rest]);
    } catch {
      /* torn write: the trainer was killed mid-line, or is writing it right now */
    }
  }
  return { ...acc.points(), skipped: acc.skipped, lastStep: acc.lastStep };
}

// ---- One run folder

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null; // absent, or being replaced right now (writes are atomic, so a retry will see it whole)
  }
}

function mtime(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

const STAMP = /^(\d{4})-(\d{2})-(\d{2})_(\d{2})-(\d{2})-(\d{2})_/;

/** "2025-01-31_12-00-00_sentiment" → "sentiment"; other names stay as they are. */
export function runName(id: string): string {
  return id.replace(STAMP, '') || id;
}

/** When a run was created: the UTC stamp its folder name starts with, or null. */
export function runCreated(id: string): Date | null {
  const m = STAMP.exec(id);
  return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])) : null;
}

/** "ULPT r=2", "prompt tuning". */
export function methodLabel(config: Pick<TrainConfig, 'method' | 'rank'> | null | undefined): string {
  if (!config) return '';
  return config.method === 'ulpt' ? `ULPT r=${config.rank}` : 'prompt tuning';
}

// The engine's run ids end in "-" and 4 hex characters that make them unique (newRunId).
const ID_SUFFIX = /-([0-9a-f]{4})$/;

/**
 * Four characters that tell apart runs of the same name and method: the run id's own suffix, or (folders named
 * before ids had one) four derived from the folder name. Stable either way.
 */
export function runSuffix(id: string): string {
  return ID_SUFFIX.exec(runName(id))?.[1] ?? createHash('sha1').update(id).digest('hex').slice(0, 4);
}

/**
 * The name people see in tabs, pickers, notifications and the status bar: config or dataset name, method and a
 * short suffix, e.g. "sentiment · ULPT r=2 · 7f3a".
 */
export function runDisplayName(id: string, config: Pick<TrainConfig, 'method' | 'rank'> | null | undefined): string {
  const name = runName(id);
  const base = STAMP.test(id) ? name.replace(ID_SUFFIX, '') || name : name;
  return [base, methodLabel(config), runSuffix(id)].filter(Boolean).join(' · ');
}

/** The display name of a run folder, reading its config. */
export function runTitle(dir: string): string {
  return runDisplayName(path.basename(dir), readJson<TrainConfig>(path.join(dir, FILES.config)));
}

/**
 * The tab title of an adapter: a run folder's best.ulpt / final.ulpt / adapter.ulpt is named by its run
 * ("sentiment · ULPT r=2 · 7f3a", "… (final)"), any other file by its name.
 */
export function adapterTitle(file: string): string {
  const dir = path.dirname(file);
  const inRun = path.basename(path.dirname(dir)) === 'runs' && path.basename(path.dirname(path.dirname(dir))) === '.ulpt';
  if (!inRun) return path.basename(file);
  const which = path.basename(file, '.ulpt');
  return `${runTitle(dir)}${which === 'best' || which === 'adapter' ? '' : ` (${which})`}`;
}

// New run ids and safe names come from the engine, so palette, tasks and the CLI name runs alike.
export { newRunId, safeName } from '../../src/train/runFolder';

export interface RunFiles {
  config: TrainConfig | null;
  summary: RunSummary | null;
  failure: RunFailure | null;
  started: StartedMessage | null;
  /** lock.json: the process training the run now, a stale lock left by one that is gone, or none. */
  owner: RunOwner;
  hasCheckpoint: boolean;
  adapters: { best: boolean; final: boolean };
  /** The newer of summary.json and failure.json decides how a run ended. */
  summaryTime: number;
  failureTime: number;
  /** Last modification of anything the run wrote (for sorting). */
  modified: number;
}

export function readRunFiles(dir: string): RunFiles {
  const f = (name: string) => path.join(dir, name);
  const exists = (name: string) => fs.existsSync(f(name));
  return {
    config: readJson<TrainConfig>(f(FILES.config)),
    summary: readJson<RunSummary>(f(FILES.summary)),
    failure: readJson<RunFailure>(f(FILES.failure)),
    started: readStarted(dir),
    owner: readRunOwner(dir),
    hasCheckpoint: exists(FILES.checkpoint),
    adapters: { best: exists(FILES.best), final: exists(FILES.final) },
    summaryTime: mtime(f(FILES.summary)),
    failureTime: mtime(f(FILES.failure)),
    modified: Math.max(mtime(f(FILES.metrics)), mtime(f(FILES.config)), mtime(f(FILES.summary)), mtime(f(FILES.failure)), mtime(dir)),
  };
}

/**
 * How a run stands. `live` is what a session of this window says (it wins: a trainer just started has no lock yet);
 * then a live lock.json (running, or stopping once a stop was requested); otherwise the run folder decides: the newer
 * of summary.json / failure.json, and "interrupted" when neither exists, or when the metrics went past the summary
 * (a resumed run that was then cut off).
 */
export function deriveStatus(files: Pick<RunFiles, 'summary' | 'failure' | 'summaryTime' | 'failureTime'> & { owner?: RunOwner }, lastStep: number, live: 'running' | 'stopping' | null): RunStatus {
  if (live) return live;
  if (files.owner?.state === 'alive') return files.owner.stopRequested ? 'stopping' : 'running';
  const { summary, failure } = files;
  if (failure && (!summary || files.failureTime >= files.summaryTime)) return 'failed';
  if (summary) {
    if (lastStep > summary.steps) return 'interrupted';
    return summary.reason;
  }
  return 'interrupted';
}

export function isResumable(status: RunStatus, hasCheckpoint: boolean, config: TrainConfig | null): boolean {
  return hasCheckpoint && config !== null && (status === 'interrupted' || status === 'stopped' || status === 'failed');
}

export function startedInfo(m: StartedMessage | null): StartedInfo | null {
  if (!m) return null;
  return { backend: m.backend.name, device: m.backend.device, startStep: m.startStep, model: m.model.name, trainableParameters: m.trainableParameters, examples: m.examples, warnings: m.warnings ?? [] };
}

/** Why an interrupted run stopped, when the folder tells: a stale lock names the process that went away. */
export function interruptionReason(files: Pick<RunFiles, 'owner'>, status: RunStatus): string | null {
  if (status !== 'interrupted') return null;
  return files.owner.state === 'stale' ? files.owner.reason : null;
}

export function runHeader(dir: string, files: RunFiles, lastStep: number, liveStatus: 'running' | 'stopping' | null): RunHeader {
  const id = path.basename(dir);
  const status = deriveStatus(files, lastStep, liveStatus);
  const lock = files.owner.state === 'alive' ? files.owner.lock : null;
  return {
    id,
    name: runDisplayName(id, files.config),
    created: (runCreated(id) ?? new Date(files.modified || Date.now())).toISOString(),
    dir,
    status,
    config: files.config,
    summary: files.summary && status !== 'interrupted' && status !== 'running' && status !== 'stopping' ? files.summary : null,
    failure: status === 'failed' ? files.failure : null,
    adapters: files.adapters,
    resumable: isResumable(status, files.hasCheckpoint, files.config),
    started: startedInfo(files.started),
    owner: lock ? { pid: lock.pid, host: lock.host, owner: lock.owner, since: lock.startedAt } : null,
    interruption: interruptionReason(files, status),
  };
}

export function readMetricsFile(dir: string): ReturnType<typeof parseMetrics> {
  let text = '';
  try {
    text = fs.readFileSync(path.join(dir, FILES.metrics), 'utf8');
  } catch {
    /* no steps yet */
  }
  return parseMetrics(text);
}

export interface RunListing {
  id: string;
  /** The display name (runDisplayName). */
  name: string;
  dir: string;
  status: RunStatus;
  resumable: boolean;
  lastStep: number;
  totalSteps: number | null;
  modified: number;
  /** From the folder name, else its modification time. */
  created: number;
  adapters: { best: boolean; final: boolean };
  config: TrainConfig | null;
  /** The best evaluation so far ("accuracy 0.9219 @ 150"), or null before the first. */
  best: { metric: string; value: number; step: number } | null;
  interruption: string | null;
}

/** The runs under `root` (a `.ulpt/runs` folder), newest first. `live` maps run folders to their live status. */
export function listRuns(root: string, live: ReadonlyMap<string, 'running' | 'stopping'> = new Map()): RunListing[] {
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return [];
  }
  const runs: RunListing[] = [];
  const seen = new Set<string>();
  for (const id of names) {
    const dir = path.join(root, id);
    try {
      if (!fs.statSync(dir).isDirectory()) continue;
    } catch {
      continue;
    }
    const files = readRunFiles(dir);
    if (!files.config && !files.failure && !fs.existsSync(path.join(dir, FILES.metrics))) continue; // not a run folder (yet)
    let progress = progressTails.get(dir);
    if (!progress) progressTails.set(dir, (progress = new ProgressTail(path.join(dir, FILES.metrics))));
    const { lastStep, best } = progress.read();
    seen.add(dir);
    const status = deriveStatus(files, lastStep, live.get(path.resolve(dir)) ?? null);
    runs.push({
      id, name: runDisplayName(id, files.config), dir, status, lastStep, modified: files.modified, adapters: files.adapters, config: files.config,
      created: runCreated(id)?.getTime() ?? files.modified,
      resumable: isResumable(status, files.hasCheckpoint, files.config), totalSteps: files.config?.steps ?? null,
      best: best ? { metric: best.metric, value: best.value, step: best.step } : null,
      interruption: interruptionReason(files, status),
    });
  }
  for (const dir of progressTails.keys()) if (path.dirname(dir) === root && !seen.has(dir)) progressTails.delete(dir); // deleted runs
  return runs.sort((a, b) => b.modified - a.modified);
}

// ---- Following a run folder while a trainer writes it

export interface FollowEvent {
  /** New points since the last event; with `reset`, all points (metrics.jsonl was replaced, e.g. on resume). */
  points: RunPoints & { lastStep: number };
  reset: boolean;
  /** summary.json, failure.json, config.json, an adapter or the checkpoint changed. */
  filesChanged: boolean;
}

/**
 * The whole lines appended to a file since the last read (counted in bytes, so a multi-byte character split across
 * reads is safe; a torn last line waits for its newline), starting over when the file was replaced (an atomic
 * rewrite on resume) or truncated.
 */
class LineTail {
  private offset = 0;
  private ino = -1;

  constructor(readonly file: string) {}

  /** `reset`: the file was replaced or truncated since the last read, and `lines` start from its beginning. */
  read(): { lines: string[]; reset: boolean } {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(this.file);
    } catch {
      return { lines: [], reset: false };
    }
    let reset = false;
    if (stat.ino !== this.ino || stat.size < this.offset) {
      reset = this.ino !== -1;
      this.offset = 0;
      this.ino = stat.ino;
    }
    if (stat.size === this.offset) return { lines: [], reset };
    const fd = fs.openSync(this.file, 'r');
    let chunk: Buffer;
    try {
      chunk = Buffer.alloc(stat.size - this.offset);
      chunk = chunk.subarray(0, fs.readSync(fd, chunk, 0, chunk.length, this.offset));
    } finally {
      fs.closeSync(fd);
    }
    const end = chunk.lastIndexOf(0x0a);
    if (end < 0) return { lines: [], reset };
    this.offset += end + 1;
    return { lines: chunk.subarray(0, end).toString('utf8').split('\n'), reset };
  }

  /** Forgets what was read: the next read takes the whole file. */
  restart(): void {
    this.offset = 0;
    this.ino = -1;
  }
}

/**
 * Reads metrics.jsonl incrementally (LineTail): only whole lines appended since the last read, starting over when
 * the file was replaced or truncated. The training panel follows one run with it, the monitor every run.
 */
export class MetricsTail {
  private readonly lines: LineTail;
  private acc = new MetricsAccumulator();

  constructor(readonly file: string) {
    this.lines = new LineTail(file);
  }

  /** The points appended since the last read; `reset` when the file was replaced (`added` then holds all of the new one so far). */
  read(): { added: RunPoints; reset: boolean } {
    const { lines, reset } = this.lines.read();
    if (reset) this.acc = new MetricsAccumulator();
    return { added: this.acc.add(lines), reset };
  }

  /** Forgets what was read: the next read takes the whole file. */
  restart(): void {
    this.lines.restart();
    this.acc = new MetricsAccumulator();
  }

  points(): RunPoints {
    return this.acc.points();
  }

  get lastStep(): number {
    return this.acc.lastStep;
  }
}

/**
 * What a run listing needs of metrics.jsonl — the last step and the best evaluation — kept up to date from the lines
 * appended since the last listing, so a picker opened over long runs parses only what is new (a 100,000-step run's
 * file is ~12 MB: parsing it whole took ~120 ms of the extension host's thread at every listing).
 */
class ProgressTail {
  private readonly lines: LineTail;
  lastStep = 0;
  best: EvalPoint | null = null;

  constructor(file: string) {
    this.lines = new LineTail(file);
  }

  read(): this {
    const { lines, reset } = this.lines.read();
    if (reset) [this.lastStep, this.best] = [0, null];
    // Train lines, all but one in fifty, as the trainer writes them: the step read without parsing the line.
    const rest: string[] = [];
    for (const line of lines) {
      const m = TRAIN_LINE.exec(line);
      if (m) this.lastStep = Math.max(this.lastStep, Number(m[1]));
      else rest.push(line);
    }
    const { train, eval: evals } = new MetricsAccumulator().add(rest);
    for (const p of train) this.lastStep = Math.max(this.lastStep, p.step);
    for (const e of evals) if (e.best && (!this.best || e.step >= this.best.step)) this.best = e; // the latest best, by step
    return this;
  }
}

/** A train line as the trainer writes it (JSON.stringify of a MetricsLine: type, step, loss first) and ends it. */
const TRAIN_LINE = /^\{"type":"train","step":(\d+),"loss":-?\d[^,]*,.*\}$/;

const progressTails = new Map<string, ProgressTail>();

/**
 * Follows metrics.jsonl by offset (reading only what was appended) and notices the other files changing. Driven by
 * fs.watch when the platform gives events and by a slow poll (a few stats every 2 s) in case it does not (network
 * and some virtual file systems); `poll()` reads at once.
 */
export class RunFollower {
  private readonly tail: MetricsTail;
  private stamps = '';
  private watcher: fs.FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private disposed = false;

  constructor(readonly dir: string, private readonly onEvent: (e: FollowEvent) => void, pollMs = 2000) {
    this.tail = new MetricsTail(path.join(dir, FILES.metrics));
    this.stamps = this.fileStamps();
    try {
      this.watcher = fs.watch(dir, () => this.poll());
      this.watcher.on('error', () => this.closeWatcher());
    } catch {
      this.watcher = null; // the folder may not exist yet; the poll covers it
    }
    this.timer = setInterval(() => this.poll(), pollMs);
    this.timer.unref?.();
  }

  /** Everything read so far (the full state for a panel that just loaded). */
  points(): RunPoints & { lastStep: number } {
    return { ...this.tail.points(), lastStep: this.tail.lastStep };
  }

  /** Reads the whole file again from the start: call before taking `points()` for a full state. */
  reload(): void {
    this.tail.restart();
    this.tail.read();
  }

  poll(): void {
    if (this.disposed) return;
    const { added: points, reset } = this.tail.read();
    const stamps = this.fileStamps();
    const filesChanged = stamps !== this.stamps;
    this.stamps = stamps;
    if (reset || filesChanged || points.train.length || points.eval.length || points.baseline) {
      this.onEvent({ points: reset ? this.points() : { ...points, lastStep: this.tail.lastStep }, reset, filesChanged });
    }
  }

  private fileStamps(): string {
    // lock.json changes with every heartbeat and when the trainer ends or goes away: the live status follows it.
    return [FILES.config, FILES.summary, FILES.failure, FILES.best, FILES.final, FILES.checkpoint, FILES.started, FILES.lock, FILES.stopRequest]
      .map((f) => mtime(path.join(this.dir, f))).join(',');
  }

  private closeWatcher(): void {
    this.watcher?.close();
    this.watcher = null;
  }

  dispose(): void {
    this.disposed = true;
    this.closeWatcher();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
