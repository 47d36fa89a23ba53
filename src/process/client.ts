// Host side of the trainer process: forks dist/trainer.js, types the channel, and turns an unexpected exit
// (crash, out of memory, kill) into an error that carries the last lines the process printed.
import { fork, type ChildProcess } from 'node:child_process';
import type { HostMessage, TrainerMessage } from '../protocol';
import type { TrainConfig } from '../config';

export interface TrainerProcessOptions {
  /** Path of the bundled trainer entry (dist/trainer.js). */
  script: string;
  /** Node executable for the child; default: the one running the host. */
  execPath?: string;
  env?: NodeJS.ProcessEnv;
  /** Lines of stdout/stderr kept for crash reports. */
  tailLines?: number;
}

export interface TrainerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process ended without a `finished` message: what went wrong, with its last output. */
  error: string | null;
  tail: string[];
}

export class TrainerProcess {
  private readonly child: ChildProcess;
  private readonly tail: string[] = [];
  private finished = false;
  private reportedError: string | null = null;
  readonly exited: Promise<TrainerExit>;

  constructor(opts: TrainerProcessOptions, onMessage: (m: TrainerMessage) => void, onOutput?: (line: string) => void) {
    const keep = opts.tailLines ?? 40;
    this.child = fork(opts.script, [], { execPath: opts.execPath, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const collect = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split(/\r?\n/)) {
        if (!line.trim()) continue;
        this.tail.push(line);
        if (this.tail.length > keep) this.tail.shift();
        onOutput?.(line);
      }
    };
    this.child.stdout?.on('data', collect);
    this.child.stderr?.on('data', collect);
    this.child.on('message', (m: TrainerMessage) => {
      if (m.type === 'finished') this.finished = true;
      if (m.type === 'error') this.reportedError = m.message;
      onMessage(m);
    });
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal, error: this.describeExit(code, signal), tail: [...this.tail] });
      this.child.on('exit', done);
      this.child.on('error', (e) => resolve({ code: null, signal: null, error: `The trainer process could not start: ${e.message}`, tail: [...this.tail] }));
    });
  }

  private describeExit(code: number | null, signal: NodeJS.Signals | null): string | null {
    if (this.finished && code === 0) return null;
    if (this.reportedError) return this.reportedError;
    const oom = this.tail.some((l) => /heap out of memory|Allocation failed|ENOMEM/i.test(l));
    const how = oom ? 'ran out of memory' : signal ? `was killed (${signal})` : `exited with code ${code}`;
    return `The trainer process ${how} before finishing.${this.tail.length ? ` Last output:\n${this.tail.slice(-10).join('\n')}` : ''}`;
  }

  private post(m: HostMessage): void {
    if (this.child.connected) this.child.send(m);
  }

  start(config: TrainConfig, runDir: string, resume = false): void {
    this.post({ type: 'start', config, runDir, resume });
  }

  /** Ends the run after the current step; the trainer writes a checkpoint first. */
  stop(): void {
    this.post({ type: 'stop' });
  }

  /** Immediate end (deactivation, a second Stop). */
  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
}
