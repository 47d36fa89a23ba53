// The files of a run folder (.ulpt/runs/<run-id>/) that tell readers what happened, whoever trained it:
// trainer.log (every TrainerMessage as a JSON line, plus anything the process printed), started.json (what the
// run started on: backend, device, model, trainable parameters) and failure.json (why it ended without finishing).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../io/atomic';
import type { RunFailure, TrainerMessage } from '../protocol';
import { RUN_LOCK_FILE, STOP_REQUEST_FILE } from './runLock';

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

export type StartedMessage = Extract<TrainerMessage, { type: 'started' }>;

/** One message as a line of trainer.log. Best effort: a log that cannot be written must not end the run. */
export function appendLogMessage(runDir: string, m: TrainerMessage): void {
  try {
    fs.appendFileSync(path.join(runDir, RUN_FILES.log), JSON.stringify(m) + '\n');
  } catch {
    /* the folder went away or the disk is full: the run itself reports the problem when it writes metrics */
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
