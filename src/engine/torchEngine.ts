// `ulpt train --engine torch`: the same checks as the built-in trainer before any work, the run folder claimed, the
// job prepared once (src/engine/prepare.ts), then the PyTorch engine (python/ulpt_torch) started — one process, or
// N through torchrun — and its TrainerMessage lines relayed. The Python process holds the run folder (lock.json,
// heartbeat) and writes every file in it; this side only asks it to stop, through stop-request.json.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { FieldNames, TrainConfig } from '../config';
import type { RunSummary, TrainerMessage } from '../protocol';
import { appendLogMessage, claimRunFolder, describeDiagnosis, diagnoseRun, DamagedRunError, logTail, RUN_FILES, runFolderProblem, RunFolderError, writeFailure } from '../train/runFolder';
import { readRunOwner, requestStop } from '../train/runLock';
import { appendFileChecked } from '../io/atomic';
import { checkResume, outPathProblem } from '../train/trainer';
import { prepareJob, writePreparedJob } from './prepare';
import { checkPython, enginePackageDir, findPython, PythonEngineError, type PythonReport } from './python';

export interface TorchTrainOptions {
  runDir: string;
  resume?: boolean;
  /** --python: the interpreter (else $ULPT_PYTHON, .venv, python3). */
  python?: string;
  /** Processes on this machine (torchrun --nproc-per-node); 1: a plain process. */
  nproc?: number;
  /** --device for the engine: auto (CUDA, then MPS, then CPU), cpu, cuda, mps. */
  device?: string;
  /** End this session after this many optimiser steps in total (the schedule still spans config.steps), as TrainOptions.stopAtStep. */
  stopAtStep?: number;
  /** Autocast precision on CUDA (the prompt and AdamW stay float32) and transformers' gradient checkpointing. */
  precision?: 'fp32' | 'bf16' | 'fp16';
  gradientCheckpointing?: boolean;
  /** fsdp: the model's transformer blocks sharded over the nproc processes (a model too big for one device). */
  shard?: 'fsdp';
  /** Who trains, for lock.json. */
  owner?: string;
  /** Resume although the data, model or settings changed since the checkpoint (--accept-changes). */
  acceptChanges?: boolean;
  force?: boolean;
  fieldNames?: FieldNames;
  onMessage?: (m: TrainerMessage) => void;
  /** Extra environment for the engine's processes (tests pin thread counts with it). */
  env?: NodeJS.ProcessEnv;
  /**
   * The caller already claimed the run folder with this config (the extension does, before it starts its trainer
   * process): prepare and train there without claiming it again.
   */
  claimed?: boolean;
  /**
   * The trainer process of the extension: its own output already goes to trainer.log, so what the engine prints is
   * not echoed, and the engine stays in the trainer's process group, so ending the trainer (a second Stop) ends it.
   * The CLI (default) echoes to the terminal and gives the engine a group of its own (Ctrl+C asks for a stop).
   */
  inTrainerProcess?: boolean;
}

export interface TorchRunResult {
  /** The engine's exit status: 0 done, 1 failed, 2 refused, 130 stopped. */
  code: number;
  summary: RunSummary | null;
  python: PythonReport;
}

/** A handle on a started run: its result, and a way to ask it to stop (as Ctrl+C does). */
export interface TorchRun {
  result: Promise<TorchRunResult>;
  stop(): void;
  /** Ends every process of the run at once (a second Ctrl+C). */
  kill(): void;
}

/**
 * Checks, claims and prepares a run, then starts the engine. Everything that can refuse the run (run folder, out
 * path, Python and its libraries, model folder, context length, data, strict warnings) is checked before the
 * folder is claimed, so a refused run leaves nothing behind.
 */
export async function startTorchRun(requested: TrainConfig, opts: TorchTrainOptions): Promise<TorchRun> {
  const names = opts.fieldNames ?? ((f: string) => f);
  const nproc = opts.nproc ?? 1;
  if (!Number.isInteger(nproc) || nproc < 1) throw new RunFolderError(`--nproc must be a whole number of at least 1 (got ${nproc}).`);
  if (opts.shard === 'fsdp' && nproc < 2) throw new RunFolderError('--fsdp shards the model over several processes: add --nproc N (N ≥ 2, e.g. one per GPU).');
  let accepted: string[] = [];
  if (opts.resume) {
    const diagnosis = diagnoseRun(opts.runDir);
    if (!diagnosis.resumable) throw new DamagedRunError(`This run cannot be resumed. ${describeDiagnosis(diagnosis)}`);
    const owner = readRunOwner(opts.runDir);
    if (owner.state === 'alive') throw new RunFolderError(`${opts.runDir} is being trained by ${owner.lock.owner} (pid ${owner.lock.pid} on ${owner.lock.host}).`);
    // The same checks as a built-in resume: a finished run, a checkpoint ahead of steps, changed data/model/settings.
    accepted = checkResume(requested, opts);
  } else if (!opts.claimed) {
    const problem = runFolderProblem(opts.runDir);
    if (problem) throw new RunFolderError(problem);
  }
  const outProblem = outPathProblem(requested.out, opts.force, names);
  if (outProblem) throw new RunFolderError(outProblem);
  const packageDir = enginePackageDir();
  const python = checkPython(findPython(opts.python, packageDir));
  const job = await prepareJob(requested, names);
  if (!opts.resume && !opts.claimed) claimRunFolder(opts.runDir, job.config);
  writePreparedJob(opts.runDir, job, !!opts.force);
  for (const message of accepted) opts.onMessage?.({ type: 'log', level: 'warn', message });
  return launch(opts, packageDir, python, nproc);
}

/** The command line of the engine: `python -m ulpt_torch train`, or the same under torchrun for N processes. */
export function engineCommand(python: string, runDir: string, nproc: number,
  opts: Pick<TorchTrainOptions, 'resume' | 'device' | 'owner' | 'stopAtStep' | 'precision' | 'gradientCheckpointing' | 'shard'> = {}): string[] {
  const train = ['-m', 'ulpt_torch', 'train', '--run-dir', runDir, '--device', opts.device ?? 'auto', '--owner', opts.owner ?? 'ulpt train',
    ...(opts.resume ? ['--resume'] : []), ...(opts.stopAtStep !== undefined ? ['--stop-at-step', String(opts.stopAtStep)] : []),
    ...(opts.precision ? ['--precision', opts.precision] : []), ...(opts.gradientCheckpointing ? ['--gradient-checkpointing'] : []),
    ...(opts.shard ? ['--shard', opts.shard] : [])];
  return nproc > 1 ? [python, '-m', 'torch.distributed.run', '--standalone', '--nproc-per-node', String(nproc), ...train] : [python, ...train];
}

function launch(opts: TorchTrainOptions, packageDir: string, python: PythonReport, nproc: number): TorchRun {
  const [exe, ...args] = engineCommand(python.python, opts.runDir, nproc, opts);
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env, PYTHONPATH: [packageDir, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter), PYTHONUNBUFFERED: '1' };
  // The installed extension ships the schema beside its bundles (dist/), not in src/ where the package looks last.
  const shipped = path.join(__dirname, 'config.schema.json');
  if (!env.ULPT_CONFIG_SCHEMA && fs.existsSync(shipped)) env.ULPT_CONFIG_SCHEMA = shipped;
  // torchrun gives each process one thread unless told (with a banner saying so); share this machine's cores instead.
  if (nproc > 1 && !env.OMP_NUM_THREADS) env.OMP_NUM_THREADS = String(Math.max(1, Math.floor(os.cpus().length / nproc)));
  // Its own process group: Ctrl+C in a terminal reaches this process, which asks the engine to stop between steps
  // (a checkpoint is kept) instead of torchrun tearing its workers down mid-step.
  const child = spawn(exe, args, { cwd: opts.runDir, env, detached: !opts.inTrainerProcess, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
  let summary: RunSummary | null = null;
  const printed: string[] = [];
  const keep = (line: string) => {
    printed.push(line);
    if (printed.length > 20) printed.shift();
    if (!opts.inTrainerProcess) process.stderr.write(line + '\n');
    // What the engine printed besides messages (warnings, a traceback) goes to trainer.log, as the extension's
    // trainer output does, so a reader that was not there sees it (runFolder.ts logTail).
    try {
      appendFileChecked(path.join(opts.runDir, RUN_FILES.log), line + '\n'); // whole or cut back, as every log line
    } catch {
      /* best effort, like every log line */
    }
  };
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    const m = parseMessage(line);
    if (!m) return keep(line);
    if (m.type === 'finished') summary = m.summary;
    opts.onMessage?.(m);
  });
  readline.createInterface({ input: child.stderr! }).on('line', keep);
  const result = new Promise<TorchRunResult>((resolve, reject) => {
    child.on('error', (e) => reject(new PythonEngineError(`The PyTorch engine could not start (${exe}): ${e.message}`)));
    child.on('close', (code, signal) => {
      const status = code ?? (signal ? 1 : 0);
      if (status !== 0 && status !== 130 && summary && fs.existsSync(path.join(opts.runDir, RUN_FILES.summary))) {
        // Everything was written (summary, adapters) before a process failed in its teardown: the run is complete.
        appendLogMessage(opts.runDir, { type: 'log', level: 'warn', message: `The PyTorch engine ${signal ? `was ended by ${signal}` : `exited with status ${status}`} after the run finished; its summary and adapters are complete.` });
        return resolve({ code: summary.reason === 'stopped' ? 130 : 0, summary, python });
      }
      if (status !== 0 && status !== 130) recordCrash(opts.runDir, status, signal, printed, nproc);
      resolve({ code: status, summary, python });
    });
  });
  return {
    result,
    stop: () => requestStop(opts.runDir, opts.owner ?? 'ulpt train'),
    kill: () => {
      try {
        if (child.pid) process.kill(opts.inTrainerProcess ? child.pid : -child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    },
  };
}

function parseMessage(line: string): TrainerMessage | null {
  if (!line.startsWith('{"type":')) return null;
  try {
    return JSON.parse(line) as TrainerMessage;
  } catch {
    return null;
  }
}

/**
 * An engine that died without writing failure.json (an import error, a crash): say so in the run folder. A torchrun
 * run whose rank 0 was holding the folder when a rank died is interrupted, not failed: its stale lock.json tells
 * readers which process went away, and its checkpoint resumes.
 */
function recordCrash(runDir: string, status: number, signal: NodeJS.Signals | null, printed: string[], nproc: number): void {
  if (fs.existsSync(path.join(runDir, RUN_FILES.failure)) || !fs.existsSync(path.join(runDir, RUN_FILES.config))) return;
  const how = signal ? `was ended by ${signal}` : `exited with status ${status}`;
  if (nproc > 1 && readRunOwner(runDir).state === 'stale') {
    appendLogMessage(runDir, { type: 'log', level: 'warn', message: `A process of the run was lost: torchrun ${how}. The run is interrupted; resume it with ulpt train --resume ${runDir}.` });
    return;
  }
  const last = printed.at(-1);
  writeFailure(runDir, {
    message: `The PyTorch engine ${how}${last ? `: ${last}` : ''}.`,
    tail: printed.length ? printed : logTail(runDir),
    step: lastStep(runDir),
    time: new Date().toISOString(),
  });
}

function lastStep(runDir: string): number {
  try {
    const lines = fs.readFileSync(path.join(runDir, RUN_FILES.metrics), 'utf8').trim().split('\n');
    return (JSON.parse(lines.at(-1) ?? '{}') as { step?: number }).step ?? 0;
  } catch {
    return 0;
  }
}
