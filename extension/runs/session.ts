// A run that a live process trains, followed through its run folder. Either this window started the trainer
// (launched: a detached process, src/process/client.ts, whose exit it sees) or it found a run already training
// (attached: started before a window reload, by another window, or by `ulpt train` in a terminal) through the
// run's lock.json. Both read the same files: trainer.log for the trainer's messages and output, lock.json for who
// trains it. No VS Code here: the commands, the task terminal, the panel and the status bar all listen to the same
// session events. Disposing a session (window reload, deactivation) stops following; the trainer goes on.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrainConfig } from '../../src/config';
import { launchTrainer, type LaunchedTrainer, type TrainerExit } from '../../src/process/client';
import type { RunFailure, RunSummary, TrainerMessage } from '../../src/protocol';
import { claimRunFolder, readStarted, RUN_FILES, writeFailure, type StartedMessage } from '../../src/train/runFolder';
import { killRunOwner, readRunOwner, requestStop, RunBusyError } from '../../src/train/runLock';
import { etaFromPoints } from '../../webview/shared/series';
import type { LaunchOptions } from './launch';
import { readMetricsFile, runTitle } from './runStore';

export type { StartedMessage };
export type StepMessage = Extract<TrainerMessage, { type: 'step' }>;
export type SessionState = 'running' | 'stopping' | 'ended';

export interface SessionEnd {
  summary: RunSummary | null;
  failure: RunFailure | null;
  /** The process exit code, when this window started it (null when killed by a signal, or attached). */
  code: number | null;
  /** Ended on purpose (a second Stop): an interruption, not a failure. */
  killed: boolean;
  /** Ended without a summary or a failure: why, when known (e.g. the trainer process went away). */
  interruption: string | null;
}

/** Within the host only: what a session tells its listeners. */
export type SessionEvent =
  | { kind: 'message'; message: TrainerMessage } // a protocol message from the trainer (a trainer.log line)
  | { kind: 'output'; line: string } // a line the process printed (stdout/stderr, in trainer.log)
  | { kind: 'state'; state: SessionState } // stop requested / process gone
  | { kind: 'ended'; end: SessionEnd }; // the last event

const MESSAGE_TYPES = new Set<TrainerMessage['type']>(['started', 'step', 'eval', 'baseline', 'checkpoint', 'adapter', 'log', 'finished', 'error']);

function asMessage(line: string): TrainerMessage | null {
  if (!line.startsWith('{')) return null;
  try {
    const m = JSON.parse(line) as TrainerMessage;
    return m && typeof m === 'object' && MESSAGE_TYPES.has(m.type) ? m : null;
  } catch {
    return null;
  }
}

function mtime(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function readConfigOut(runDir: string): string | null {
  try {
    return (JSON.parse(fs.readFileSync(path.join(runDir, RUN_FILES.config), 'utf8')) as TrainConfig).out ?? null;
  } catch {
    return null;
  }
}

/** How often the folder is checked when fs.watch gives no events (network drives); events make it immediate. */
const POLL_MS = 2_000;

export class TrainingSession {
  readonly runDir: string;
  readonly ended: Promise<SessionEnd>;
  /** True when this window started the trainer; false when it attached to a run that was already training. */
  readonly launched: boolean;
  state: SessionState = 'running';
  started: StartedMessage | null = null;
  lastStep: StepMessage | null = null;
  /** True once an adapter file exists for this run (best.ulpt after the first evaluation, or final.ulpt). */
  hasAdapter = false;
  private readonly since = Date.now();
  private readonly listeners = new Set<(e: SessionEvent) => void>();
  private end: SessionEnd | null = null;
  private resolveEnd!: (end: SessionEnd) => void;
  private killed = false;
  private summary: RunSummary | null = null;
  private logOffset: number;
  private logRest = '';
  private watcher: fs.FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private pending: NodeJS.Timeout | null = null;
  private detached = false;

  constructor(runDir: string, private readonly trainer: LaunchedTrainer | null, opts: { logOffset?: number } = {}) {
    this.runDir = path.resolve(runDir);
    this.launched = trainer !== null;
    this.ended = new Promise((r) => (this.resolveEnd = r));
    this.logOffset = opts.logOffset ?? fileSize(this.file(RUN_FILES.log));
    if (!trainer) this.catchUp();
    try {
      this.watcher = fs.watch(this.runDir, () => this.schedulePoll());
      this.watcher.on('error', () => this.closeWatcher());
    } catch {
      this.watcher = null;
    }
    this.timer = setInterval(() => this.poll(), POLL_MS);
    this.timer.unref?.();
    if (trainer) void trainer.exited.then((exit) => this.finish(exit));
    else queueMicrotask(() => this.poll());
  }

  private file(name: string): string {
    return path.join(this.runDir, name);
  }

  /** An attached run: what it started on and where it is, from its files (the log is followed from here on). */
  private catchUp(): void {
    this.started = readStarted(this.runDir);
    const { train } = readMetricsFile(this.runDir);
    const last = train.at(-1);
    const total = this.started?.totalSteps ?? null;
    if (last && total) this.lastStep = { type: 'step', ...last, totalSteps: total, etaMs: etaFromPoints(train, total) ?? 0 };
    this.hasAdapter = fs.existsSync(this.file(RUN_FILES.best)) || fs.existsSync(this.file(RUN_FILES.final));
    const owner = readRunOwner(this.runDir);
    if (owner.state === 'alive' && owner.stopRequested) this.state = 'stopping';
  }

  private schedulePoll(): void {
    if (this.pending || this.end) return;
    // Writes come in bursts (metrics, log, checkpoint): read once they settle.
    this.pending = setTimeout(() => {
      this.pending = null;
      this.poll();
    }, 50);
  }

  /** Reads what the trainer appended; for an attached run, also whether its process still holds the run. */
  poll(): void {
    if (this.end || this.detached) return;
    this.readLog();
    if (this.launched) return; // the process exit says when it ends
    const owner = readRunOwner(this.runDir);
    if (owner.state === 'alive') {
      if (owner.stopRequested && this.state === 'running') this.setState('stopping');
    } else {
      this.finish(null, owner.state === 'stale' ? owner.reason : null);
    }
  }

  private readLog(): void {
    const file = this.file(RUN_FILES.log);
    const size = fileSize(file);
    if (size < this.logOffset) this.logOffset = 0; // replaced: read it from the start
    if (size === this.logOffset) return;
    let chunk: Buffer;
    const fd = fs.openSync(file, 'r');
    try {
      chunk = Buffer.alloc(size - this.logOffset);
      chunk = chunk.subarray(0, fs.readSync(fd, chunk, 0, chunk.length, this.logOffset));
    } finally {
      fs.closeSync(fd);
    }
    this.logOffset += chunk.length;
    const text = this.logRest + chunk.toString('utf8');
    const end = text.lastIndexOf('\n');
    this.logRest = end < 0 ? text : text.slice(end + 1);
    if (end < 0) return;
    for (const line of text.slice(0, end).split(/\r?\n/)) {
      if (!line.trim()) continue;
      const m = asMessage(line);
      if (m) this.onMessage(m);
      else this.emit({ kind: 'output', line });
    }
  }

  private onMessage(m: TrainerMessage): void {
    if (m.type === 'started') this.started = m;
    else if (m.type === 'step') this.lastStep = m;
    else if (m.type === 'adapter') this.hasAdapter = true;
    else if (m.type === 'finished') this.summary = m.summary;
    this.emit({ kind: 'message', message: m });
  }

  /** The trainer is gone (its exit, when launched here; its lock released or stale, when attached). */
  private finish(exit: TrainerExit | null, staleReason: string | null = null): void {
    if (this.end || this.detached) return;
    this.readLog();
    if (this.logRest.trim()) {
      const rest = this.logRest;
      this.logRest = '';
      const m = asMessage(rest);
      if (m) this.onMessage(m);
      else this.emit({ kind: 'output', line: rest });
    }
    const fresh = (name: string) => mtime(this.file(name)) >= this.since - 1000;
    const readJson = <T>(name: string): T | null => {
      try {
        return JSON.parse(fs.readFileSync(this.file(name), 'utf8')) as T;
      } catch {
        return null;
      }
    };
    const summary = this.summary ?? (fresh(RUN_FILES.summary) ? readJson<RunSummary>(RUN_FILES.summary) : null);
    let failure = !summary && fresh(RUN_FILES.failure) ? readJson<RunFailure>(RUN_FILES.failure) : null;
    if (!summary && !failure && exit?.error && !this.killed) {
      // The process died without recording why (crash, out of memory, killed from outside): record it for it.
      const step = this.lastStep?.step ?? readMetricsFile(this.runDir).lastStep;
      failure = { message: exit.error, tail: exit.tail, step, time: new Date().toISOString() };
      writeFailure(this.runDir, failure);
    }
    let interruption: string | null = null;
    if (!summary && !failure) {
      interruption = this.killed
        ? 'it was ended at once (a second Stop); its last checkpoint is kept.'
        : staleReason ?? 'its trainer process ended without finishing.';
    }
    this.end = { summary, failure, code: exit?.code ?? null, killed: this.killed && !summary, interruption };
    this.stopWatching();
    this.setState('ended');
    this.emit({ kind: 'ended', end: this.end });
    this.listeners.clear();
    this.resolveEnd(this.end);
  }

  private emit(e: SessionEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch {
        /* one broken listener must not stop the others (or the run) */
      }
    }
  }

  private setState(s: SessionState): void {
    if (this.state === s) return;
    this.state = s;
    this.emit({ kind: 'state', state: s });
  }

  /** Listens until the session ends (the `ended` event is the last one). */
  on(listener: (e: SessionEvent) => void): { dispose(): void } {
    if (this.end) {
      listener({ kind: 'ended', end: this.end });
      return { dispose() {} };
    }
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /**
   * First call: ask the trainer to stop after its current step, keeping a checkpoint (stop-request.json, which
   * works whoever started it). Second call: end the process now.
   */
  stop(): 'stopping' | 'killed' | 'ended' {
    if (this.state === 'ended') return 'ended';
    if (this.state === 'stopping') {
      this.kill();
      return 'killed';
    }
    requestStop(this.runDir, 'ULPT Studio');
    this.setState('stopping');
    return 'stopping';
  }

  /** Ends the trainer at once; its pid is checked against lock.json first, so a reused pid is never hit. */
  kill(): void {
    if (this.state === 'ended') return;
    this.killed = true;
    if (this.trainer) this.trainer.kill();
    else killRunOwner(this.runDir);
    this.schedulePoll();
  }

  get pid(): number | undefined {
    if (this.trainer) return this.trainer.pid;
    const owner = readRunOwner(this.runDir);
    return owner.state === 'alive' ? owner.lock.pid : undefined;
  }

  /** The run folder's name. */
  get name(): string {
    return path.basename(this.runDir);
  }

  private titleCache: string | null = null;
  /** The name people see ("sentiment · ULPT r=2 · 7f3a"). */
  get title(): string {
    return (this.titleCache ??= runTitle(this.runDir));
  }

  /** The adapter file the run writes when it finishes (config.json's `out`), if known. */
  get out(): string | null {
    return this.started?.config.out ?? readConfigOut(this.runDir);
  }

  private closeWatcher(): void {
    this.watcher?.close();
    this.watcher = null;
  }

  private stopWatching(): void {
    this.closeWatcher();
    if (this.timer) clearInterval(this.timer);
    if (this.pending) clearTimeout(this.pending);
    this.timer = this.pending = null;
  }

  /** Stops following (the window goes away); the trainer goes on and the next window attaches to it. */
  detach(): void {
    this.detached = true;
    this.stopWatching();
    this.listeners.clear();
  }
}

/** The runs this window follows, by run folder: those it started and those it found training. */
export class RunManager {
  private readonly sessions = new Map<string, TrainingSession>();
  private readonly listeners = new Set<(s: TrainingSession, e: SessionEvent) => void>();
  private readonly startListeners = new Set<(s: TrainingSession) => void>();

  constructor(private readonly script: string, private readonly launch: () => LaunchOptions) {}

  /**
   * Starts a detached trainer for a run folder. A new run's folder is claimed here, exclusively, by writing its
   * resolved config.json (the engine's claimRunFolder: a used folder is refused, untouched); the trainer reads the
   * config from there. A resumed run keeps its own.
   */
  start(config: TrainConfig, runDir: string, resume: boolean): TrainingSession {
    const key = path.resolve(runDir);
    if (this.sessions.has(key)) throw new RunBusyError(`${path.basename(key)} is already training.`);
    const owner = readRunOwner(key);
    if (owner.state === 'alive') throw new RunBusyError(`${path.basename(key)} is already being trained by ${owner.lock.owner} (pid ${owner.lock.pid} on ${owner.lock.host}).`);
    if (!resume) claimRunFolder(key, config);
    const logOffset = fileSize(path.join(key, RUN_FILES.log));
    const launch = this.launch();
    const trainer = launchTrainer({ script: this.script, execPath: launch.execPath, env: launch.env, runDir: key, resume });
    return this.track(new TrainingSession(key, trainer, { logOffset }));
  }

  /** Follows a run that a live process trains (no-op if already followed); undefined when none does. */
  attach(runDir: string): TrainingSession | undefined {
    const key = path.resolve(runDir);
    const known = this.sessions.get(key);
    if (known) return known;
    if (readRunOwner(key).state !== 'alive') return undefined;
    return this.track(new TrainingSession(key, null));
  }

  /** Attaches to every run under these `.ulpt/runs` folders that a live process trains. */
  scan(runsDirs: readonly string[]): TrainingSession[] {
    const found: TrainingSession[] = [];
    for (const root of runsDirs) {
      let names: string[] = [];
      try {
        names = fs.readdirSync(root);
      } catch {
        continue;
      }
      for (const name of names) {
        if (!fs.existsSync(path.join(root, name, RUN_FILES.lock))) continue;
        const s = this.attach(path.join(root, name));
        if (s) found.push(s);
      }
    }
    return found;
  }

  private track(session: TrainingSession): TrainingSession {
    this.sessions.set(session.runDir, session);
    session.on((e) => {
      if (e.kind === 'ended') this.sessions.delete(session.runDir);
      for (const l of [...this.listeners]) l(session, e);
    });
    for (const l of [...this.startListeners]) l(session);
    return session;
  }

  get(runDir: string): TrainingSession | undefined {
    return this.sessions.get(path.resolve(runDir));
  }

  /** Live sessions, most recently started or found last. */
  all(): TrainingSession[] {
    return [...this.sessions.values()];
  }

  latest(): TrainingSession | undefined {
    return this.all().at(-1);
  }

  /** Run folder → live status, for deriving the status of runs read from disk. */
  liveStatuses(): Map<string, 'running' | 'stopping'> {
    return new Map(this.all().map((s) => [s.runDir, s.state === 'stopping' ? 'stopping' : 'running'] as const));
  }

  /** A session was started or attached. */
  onDidStart(listener: (s: TrainingSession) => void): { dispose(): void } {
    this.startListeners.add(listener);
    return { dispose: () => this.startListeners.delete(listener) };
  }

  /** Every event of every session. */
  onEvent(listener: (s: TrainingSession, e: SessionEvent) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** Stops following every run (deactivation, window reload): the trainers keep training. */
  dispose(): void {
    for (const s of this.sessions.values()) s.detach();
    this.sessions.clear();
    this.listeners.clear();
    this.startListeners.clear();
  }
}
