// Entry point of the trainer process the extension starts: `node dist/trainer.js --run-dir DIR [--resume]`.
// It is started detached from the window (its own process group, stdout/stderr appended to DIR/trainer.log, no
// IPC), so a window reload or close does not end it. Everything goes through the run folder: it reads the
// resolved config.json the extension claimed the folder with, holds lock.json while it trains, stops between steps when a
// stop-request.json appears (or on SIGTERM/SIGINT), and writes its messages to trainer.log (see train()).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../backend';
import { resolveConfig } from '../config';
import { failureOf, RUN_FILES, writeFailure, appendLogMessage } from '../train/runFolder';
import { RunBusyError } from '../train/runLock';
import { train } from '../train/trainer';

export const TRAINER_OWNER = 'ULPT Studio';

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
    const config = resolveConfig(raw as Parameters<typeof resolveConfig>[0], runDir, file);
    const backend = await initBackend(config.backend, { nativeSearchPath: process.env.ULPT_TFJS_NODE_PATH });
    inTrain = true;
    // A fresh run's folder was claimed by the extension (it wrote config.json exclusively before starting this).
    await train(config, { runDir, backend, resume: !!values.resume, claimed: !values.resume, owner: TRAINER_OWNER, shouldStop: () => stop });
  } catch (e) {
    // train() records its own failures; what failed before it (config, backend) is recorded here. A run another
    // process holds is left alone: its files describe that process's work.
    if (e instanceof RunBusyError) console.error(`ulpt trainer: ${e.message}`);
    else if (!inTrain) {
      const failure = failureOf(e, 0);
      writeFailure(runDir, failure);
      appendLogMessage(runDir, { type: 'error', message: failure.message, ...(failure.stack ? { stack: failure.stack } : {}) });
    }
    process.exitCode = 1;
  }
}

void main().finally(() => process.exit());
