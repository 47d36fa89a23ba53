// Entry point of the training child process. The extension host forks it with an IPC channel, sends one
// `start`, and receives every TrainerMessage; `stop` ends the run after the current step with a checkpoint.
// Only protocol messages cross the channel; a crash is reported as an `error` message and a non-zero exit.
import { initBackend } from '../backend';
import type { TrainConfig } from '../config';
import type { HostMessage, TrainerMessage } from '../protocol';
import { assertNever } from '../protocol';
import { train } from '../train/trainer';

let lastSend: Promise<void> = Promise.resolve();
function send(m: TrainerMessage): void {
  lastSend = new Promise((resolve) => process.send?.(m, undefined, {}, () => resolve()));
}

let stopRequested = false;

/** The editor's ulpt.threads setting (ULPT_THREADS) applies when the config leaves threads on auto. */
function threadsFromEnv(config: TrainConfig): TrainConfig {
  const n = Number(process.env.ULPT_THREADS);
  return config.threads === 'auto' && Number.isInteger(n) && n >= 1 ? { ...config, threads: n } : config;
}

async function start(m: Extract<HostMessage, { type: 'start' }>): Promise<void> {
  const backend = await initBackend(m.config.backend, { nativeSearchPath: process.env.ULPT_TFJS_NODE_PATH });
  await train(threadsFromEnv(m.config), { runDir: m.runDir, backend, resume: m.resume, shouldStop: () => stopRequested, onMessage: send });
}

function fail(e: unknown): void {
  const err = e instanceof Error ? e : new Error(String(e));
  send({ type: 'error', message: err.message, stack: err.stack });
  process.exitCode = 1;
}

if (!process.send) {
  console.error('dist/trainer.js is started by ULPT Studio with an IPC channel; use `ulpt train` on the command line.');
  process.exit(2);
}

let started = false;
process.on('message', (raw: unknown) => {
  const m = raw as HostMessage;
  switch (m.type) {
    case 'start':
      if (started) return send({ type: 'log', level: 'warn', message: 'This trainer is already running a job; start ignored.' });
      started = true;
      start(m)
        .catch(fail)
        .finally(async () => {
          await lastSend; // messages go out in order: once the last is written, all are
          process.exit();
        });
      return;
    case 'stop':
      stopRequested = true;
      return;
    default:
      assertNever(m);
  }
});
process.on('disconnect', () => {
  // The host went away (window closed, extension deactivated): stop cleanly, keeping a checkpoint.
  stopRequested = true;
});
