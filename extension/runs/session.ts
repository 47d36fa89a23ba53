// A training run in progress: one trainer child process (src/process/client.ts) for one run folder, and the
// registry of those that this window started. No VS Code here: the commands, the task terminal, the panel and the
// status bar all listen to the same session events.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrainConfig } from '../../src/config';
import { writeFileAtomic } from '../../src/io/atomic';
import { TrainerProcess } from '../../src/process/client';
import type { RunFailure, RunSummary, TrainerMessage } from '../../src/protocol';
import type { LaunchOptions } from './launch';
import { FILES, readMetricsFile } from './runStore';

export type StartedMessage = Extract<TrainerMessage, { type: 'started' }>;
export type StepMessage = Extract<TrainerMessage, { type: 'step' }>;
export type SessionState = 'running' | 'stopping' | 'ended';

export interface SessionEnd {
  summary: RunSummary | null;
  failure: RunFailure | null;
  /** The process exit code (null when killed by a signal). */
  code: number | null;
  /** Ended on purpose (a second Stop, deactivation): an interruption, not a failure. */
  killed: boolean;
}

/** Within the host only: what a session tells its listeners. */
export type SessionEvent =
  | { kind: 'message'; message: TrainerMessage } // a protocol message from the trainer
  | { kind: 'output'; line: string } // a line the process printed (stdout/stderr)
  | { kind: 'state'; state: SessionState } // stop requested / process gone
  | { kind: 'ended'; end: SessionEnd }; // the last event

export interface SessionOptions {
  /** dist/trainer.js */
  script: string;
  launch: LaunchOptions;
  config: TrainConfig;
  runDir: string;
  resume: boolean;
}

export class TrainingSession {
  readonly runDir: string;
  readonly config: TrainConfig;
  readonly resume: boolean;
  readonly ended: Promise<SessionEnd>;
  state: SessionState = 'running';
  started: StartedMessage | null = null;
  lastStep: StepMessage | null = null;
  /** True once an adapter file exists for this run (best.ulpt after the first evaluation, or final.ulpt). */
  hasAdapter = false;
  private readonly proc: TrainerProcess;
  private readonly listeners = new Set<(e: SessionEvent) => void>();
  private end: SessionEnd | null = null;
  private killed = false;

  constructor(opts: SessionOptions) {
    this.runDir = path.resolve(opts.runDir);
    this.config = opts.config;
    this.resume = opts.resume;
    fs.mkdirSync(this.runDir, { recursive: true });
    // A new attempt: the failure of the previous one no longer describes the run.
    fs.rmSync(path.join(this.runDir, FILES.failure), { force: true });
    this.proc = new TrainerProcess(
      { script: opts.script, execPath: opts.launch.execPath, env: opts.launch.env },
      (m) => this.onMessage(m),
      (line) => this.emit({ kind: 'output', line }),
    );
    this.proc.start(opts.config, this.runDir, opts.resume);
    this.ended = this.proc.exited.then((exit) => {
      let failure: RunFailure | null = null;
      if (exit.error && !this.killed) {
        const step = this.lastStep?.step ?? readMetricsFile(this.runDir).lastStep;
        failure = { message: exit.error, tail: exit.tail, step, time: new Date().toISOString() };
        try {
          writeFileAtomic(path.join(this.runDir, FILES.failure), JSON.stringify(failure, null, 2) + '\n');
        } catch {
          /* the run folder is gone or read-only; the failure is still reported to the user */
        }
      }
      this.end = { summary: this.summary, failure, code: exit.code, killed: this.killed && !this.summary };
      this.setState('ended');
      this.emit({ kind: 'ended', end: this.end });
      this.listeners.clear();
      return this.end;
    });
  }

  private summary: RunSummary | null = null;

  private onMessage(m: TrainerMessage): void {
    if (m.type === 'started') this.started = m;
    else if (m.type === 'step') this.lastStep = m;
    else if (m.type === 'adapter') this.hasAdapter = true;
    else if (m.type === 'finished') this.summary = m.summary;
    this.emit({ kind: 'message', message: m });
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

  /** First call: stop after the current step, keeping a checkpoint. Second call: end the process now. */
  stop(): 'stopping' | 'killed' | 'ended' {
    if (this.state === 'ended') return 'ended';
    if (this.state === 'stopping') {
      this.kill();
      return 'killed';
    }
    this.proc.stop();
    this.setState('stopping');
    return 'stopping';
  }

  kill(): void {
    if (this.state === 'ended') return;
    this.killed = true;
    this.proc.kill();
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get name(): string {
    return path.basename(this.runDir);
  }
}

/** The sessions of this window, by run folder. */
export class RunManager {
  private readonly sessions = new Map<string, TrainingSession>();
  private readonly listeners = new Set<(s: TrainingSession, e: SessionEvent) => void>();
  private readonly startListeners = new Set<(s: TrainingSession) => void>();

  constructor(private readonly script: string, private readonly launch: () => LaunchOptions) {}

  start(config: TrainConfig, runDir: string, resume: boolean): TrainingSession {
    const key = path.resolve(runDir);
    if (this.sessions.has(key)) throw new Error(`${path.basename(key)} is already training in this window.`);
    const session = new TrainingSession({ script: this.script, launch: this.launch(), config, runDir: key, resume });
    this.sessions.set(key, session);
    session.on((e) => {
      if (e.kind === 'ended') this.sessions.delete(key);
      for (const l of [...this.listeners]) l(session, e);
    });
    for (const l of [...this.startListeners]) l(session);
    return session;
  }

  get(runDir: string): TrainingSession | undefined {
    return this.sessions.get(path.resolve(runDir));
  }

  /** Live sessions, most recently started last. */
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

  onDidStart(listener: (s: TrainingSession) => void): { dispose(): void } {
    this.startListeners.add(listener);
    return { dispose: () => this.startListeners.delete(listener) };
  }

  /** Every event of every session. */
  onEvent(listener: (s: TrainingSession, e: SessionEvent) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** Ends every trainer process at once (deactivation). */
  dispose(): void {
    for (const s of this.sessions.values()) s.kill();
    this.listeners.clear();
    this.startListeners.clear();
  }
}
