// Host side of the trainer process: starts dist/trainer.js detached (its own process group, no IPC, stdout and
// stderr appended to the run folder's trainer.log) so that it outlives the window, and reports how it ended while
// the starter is still there to see it. Everything else (progress, stop) goes through the run folder.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { logTail, RUN_FILES } from '../train/runFolder';

export interface TrainerLaunchOptions {
  /** Path of the bundled trainer entry (dist/trainer.js). */
  script: string;
  /** Node executable for the child; default: the one running the host. */
  execPath?: string;
  env?: NodeJS.ProcessEnv;
  runDir: string;
  resume: boolean;
}

export interface TrainerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not start or ended by a signal / non-zero code: what happened, in words. */
  error: string | null;
  /** The last lines it printed (from trainer.log, JSON message lines left out). */
  tail: string[];
}

export interface LaunchedTrainer {
  pid: number | undefined;
  /** Resolves when the process ends (only observable while the process that launched it lives). */
  exited: Promise<TrainerExit>;
  /** Ends it at once (SIGKILL), if it still runs: the pid is known to be this child, not a reused one. */
  kill(): void;
}

/** Starts the trainer for a run folder that holds config.json. */
export function launchTrainer(opts: TrainerLaunchOptions): LaunchedTrainer {
  const log = path.join(opts.runDir, RUN_FILES.log);
  fs.mkdirSync(opts.runDir, { recursive: true });
  const fd = fs.openSync(log, 'a');
  let child;
  try {
    child = spawn(opts.execPath ?? process.execPath, [opts.script, '--run-dir', opts.runDir, ...(opts.resume ? ['--resume'] : [])], {
      cwd: opts.runDir,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
      windowsHide: true,
    });
  } finally {
    fs.closeSync(fd); // the child has its own copy
  }
  child.unref();
  const exited = new Promise<TrainerExit>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, error: describeExit(opts.runDir, code, signal), tail: logTail(opts.runDir) }));
    child.on('error', (e) => resolve({ code: null, signal: null, error: `The trainer process could not start: ${e.message}`, tail: logTail(opts.runDir) }));
  });
  let over = false;
  void exited.then(() => (over = true));
  return {
    pid: child.pid,
    exited,
    kill: () => {
      if (over || child.exitCode !== null || child.signalCode !== null) return;
      // The whole process group (the trainer leads it, being detached): a PyTorch engine it started goes too.
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    },
  };
}

function describeExit(runDir: string, code: number | null, signal: NodeJS.Signals | null): string | null {
  if (code === 0) return null;
  const tail = logTail(runDir, 10);
  const oom = tail.some((l) => /heap out of memory|Allocation failed|ENOMEM/i.test(l));
  const how = oom ? 'ran out of memory' : signal ? `was killed (${signal})` : `exited with code ${code}`;
  return `The trainer process ${how} before finishing.${tail.length ? ` Last output:\n${tail.join('\n')}` : ''}`;
}
