// Entry point of the trainer process the extension starts: `node dist/trainer.js --run-dir DIR [--resume]`.
// It is started detached from the window (its own process group, stdout/stderr appended to DIR/trainer.log, no
// IPC), so a window reload or close does not end it. Everything goes through the run folder: it reads the
// resolved config.json the extension claimed the folder with, holds lock.json while it trains, stops between steps when a
// stop-request.json appears (or on SIGTERM/SIGINT), and writes its messages to trainer.log (see train()).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../backend';
import { resolveConfig, type TrainConfig } from '../config';
import { failureOf, RUN_FILES, writeFailure, appendLogMessage } from '../train/runFolder';
import { RunBusyError } from '../train/runLock';
import { resolveHubInputs } from '../hub/resolve';
import { writeFileAtomic } from '../io/atomic';
import { ResumeRefusedError, train } from '../train/trainer';
import { startTorchRun } from '../engine/torchEngine';

export const TRAINER_OWNER = 'ULPT Studio';

/** The editor's ulpt.threads setting (ULPT_THREADS) applies when the config leaves threads on auto. */
function threadsFromEnv(config: TrainConfig): TrainConfig {
  const n = Number(process.env.ULPT_THREADS);
  return config.threads === 'auto' && Number.isInteger(n) && n >= 1 ? { ...config, threads: n } : config;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'run-dir': { type: 'string' }, resume: { type: 'boolean' } }, strict: true });
  const runDir = values['run-dir'] ? path.resolve(values['run-dir']) : '';
  if (!runDir) {
    console.error('usage: trainer.js --run-dir DIR [--resume]  (started by ULPT Studio; on the command line use `ulpt train`)');
    process.exit(2);
  }
  let stop = false;
  const onSignal = () => {
    if (stop) process.exit(130);
    stop = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let inTrain = false;
  try {
    const file = path.join(runDir, RUN_FILES.config);
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`${file} could not be read as a training config: ${(e as Error).message}`);
    }
    // The extension wrote a resolved config (absolute paths); resolving it again validates it against the schema.
    const written = threadsFromEnv(resolveConfig(raw as Parameters<typeof resolveConfig>[0], runDir, file));
    // Hub models and data (org/name, hf://datasets/…) become cache paths before anything else; the run's config.json
    // then records both (a resume reads the local paths, and the commit to fetch again if the cache was cleared).
    const config = await resolveHubInputs(written, { onNote: (message) => appendLogMessage(runDir, { type: 'log', level: 'info', message }) });
    if (config.hub && JSON.stringify(config.hub) !== JSON.stringify(written.hub)) writeFileAtomic(file, JSON.stringify({ ...(raw as object), model: config.model, train: config.train, ...(config.validation ? { validation: config.validation } : {}), hub: config.hub }, null, 2) + '\n');
    if (config.engine === 'torch') {
      // The PyTorch engine trains and writes the run folder itself; this process prepares the job, starts it in its
      // own process group (a second Stop ends both) and passes a stop on. ULPT_PYTHON: the ulpt.pythonPath setting.
      const run = await startTorchRun(config, {
        runDir, resume: !!values.resume, claimed: !values.resume, owner: TRAINER_OWNER, inTrainerProcess: true,
        python: process.env.ULPT_PYTHON || undefined,
        // ulpt.torchProcesses and ulpt.torchFsdp (extension/runs/launch.ts); a resume takes today's settings.
        nproc: Number(process.env.ULPT_TORCH_NPROC) || 1, shard: process.env.ULPT_TORCH_SHARD === 'fsdp' ? 'fsdp' : undefined,
      });
      inTrain = true;
      const poll = setInterval(() => stop && (clearInterval(poll), run.stop()), 200);
      const { code } = await run.result.finally(() => clearInterval(poll));
      process.exitCode = code === 0 || code === 130 ? 0 : 1;
      return;
    }
    const backend = await initBackend(config.backend, { nativeSearchPath: process.env.ULPT_TFJS_NODE_PATH });
    inTrain = true;
    // A fresh run's folder was claimed by the extension (it wrote config.json exclusively before starting this).
    await train(config, { runDir, backend, resume: !!values.resume, claimed: !values.resume, owner: TRAINER_OWNER, shouldStop: () => stop });
  } catch (e) {
    // train() records its own failures; what failed before it (config, backend) is recorded here, and a refused
    // resume (train() leaves the folder untouched, but the window learns why only from it). A run another process
    // holds is left alone: its files describe that process's work.
    if (e instanceof RunBusyError) console.error(`ulpt trainer: ${e.message}`);
    else if (!inTrain || e instanceof ResumeRefusedError) {
      const failure = failureOf(e, 0);
      writeFailure(runDir, failure);
      appendLogMessage(runDir, { type: 'error', message: failure.message, ...(failure.stack ? { stack: failure.stack } : {}) });
    }
    process.exitCode = 1;
  }
}

void main().finally(() => process.exit());
