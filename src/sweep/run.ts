// Runs a sweep's cells one after another on this machine: a finished run is kept, an interrupted one resumes from
// its checkpoint (or starts again when it had none), and a stop (Ctrl+C) ends the current run with a checkpoint,
// leaving the sweep to be resumed by the same command. The built-in engine loads each model once for all cells.
import * as fs from 'node:fs';
import { initBackend, type BackendReport } from '../backend';
import type { TrainConfig } from '../config';
import { startTorchRun } from '../engine/torchEngine';
import { resolveHubInputs, type ResolveOptions } from '../hub/resolve';
import { loadModel } from '../models/loader';
import type { LanguageModel } from '../models/types';
import type { RunSummary, TrainerMessage } from '../protocol';
import { train } from '../train/trainer';
import { armLabel } from './grid';
import { cellRunDir, cellState, writeSweepFile, type SweepPlan } from './plan';

/** What the sweep says about its cells as they go (the CLI prints it, or writes it as a JSON line). */
export type SweepEvent =
  | { type: 'sweep-cell'; index: number; total: number; id: string; arm: string; seed: string; runDir: string; action: 'kept' | 'resume' | 'restart' | 'start'; note?: string }
  | { type: 'sweep-cell-done'; id: string; runDir: string; reason: RunSummary['reason']; best: Record<string, number> | null; seconds: number }
  | { type: 'sweep-stopped'; id: string; runDir: string; done: number; total: number };

export interface SweepRunOptions {
  /** Polled between steps: true ends the current run cleanly (checkpoint) and the sweep with it. */
  shouldStop: () => boolean;
  onEvent: (e: SweepEvent) => void;
  /** Every message of each run's trainer. */
  onMessage?: (m: TrainerMessage) => void;
  hub?: ResolveOptions;
  /** The PyTorch engine's interpreter (--python). */
  python?: string;
  /** The PyTorch engine's handle on the current run, so a signal can stop it (set and cleared by runSweep). */
  onTorchRun?: (run: { stop(): void; kill(): void } | null) => void;
}

/** Runs every cell that is not finished. Returns false when a stop ended it before the last cell. */
export async function runSweep(plan: SweepPlan, opts: SweepRunOptions): Promise<boolean> {
  writeSweepFile(plan.dir, plan.file);
  const cells = plan.file.cells;
  const models = new ModelCache();
  let backend: BackendReport | null = null;
  try {
    for (const [i, cell] of cells.entries()) {
      const runDir = cellRunDir(plan.dir, cell);
      const config = await resolveHubInputs(plan.configs.get(cell.id)!, opts.hub);
      const state = cellState(runDir, config);
      const event = (action: 'kept' | 'resume' | 'restart' | 'start', note?: string) =>
        opts.onEvent({ type: 'sweep-cell', index: i + 1, total: cells.length, id: cell.id, arm: armLabel(cell.arm), seed: cell.seed, runDir, action, ...(note ? { note } : {}) });
      if (state.kind === 'busy') throw new Error(`${runDir} is ${state.detail}; a sweep trains one run at a time. Wait for it or stop it, then rerun the sweep.`);
      if (state.kind === 'done') {
        event('kept');
        continue;
      }
      // A stop between two runs ends the sweep before the next run makes a folder.
      if (opts.shouldStop()) {
        opts.onEvent({ type: 'sweep-stopped', id: cell.id, runDir, done: i, total: cells.length });
        return false;
      }
      if (state.kind === 'restart') {
        event('restart', state.why);
        // Our own cell's folder, interrupted before anything could be resumed: nothing in it is worth keeping.
        fs.rmSync(runDir, { recursive: true, force: true });
      } else {
        event(state.kind === 'resume' ? 'resume' : 'start', state.kind === 'resume' ? `from step ${state.step}` : undefined);
      }
      const resume = state.kind === 'resume';
      // A resume continues with the run's own stored config (as `ulpt train --resume`), on the sweep's backend and engine.
      const runConfig = state.kind === 'resume' ? { ...state.config, backend: config.backend, engine: config.engine } : config;
      let summary: RunSummary | null;
      if ((config.engine ?? 'builtin') === 'torch') {
        summary = await runTorch(runConfig, runDir, resume, opts);
      } else {
        backend ??= await initBackend(config.backend);
        const model = await models.get(config.model);
        summary = await train(runConfig, { runDir, backend, resume, owner: 'ulpt sweep', model, shouldStop: opts.shouldStop, onMessage: opts.onMessage });
      }
      if (!summary || summary.reason === 'stopped') {
        opts.onEvent({ type: 'sweep-stopped', id: cell.id, runDir, done: i, total: cells.length });
        return false;
      }
      opts.onEvent({ type: 'sweep-cell-done', id: cell.id, runDir, reason: summary.reason, best: summary.best, seconds: summary.seconds });
    }
    return true;
  } finally {
    models.dispose();
  }
}

async function runTorch(config: TrainConfig, runDir: string, resume: boolean, opts: SweepRunOptions): Promise<RunSummary | null> {
  if (opts.shouldStop()) return null;
  const run = await startTorchRun(config, { runDir, resume, python: opts.python, owner: 'ulpt sweep', onMessage: opts.onMessage });
  opts.onTorchRun?.(run);
  try {
    const result = await run.result;
    if (result.code !== 0 && result.code !== 130) throw new Error(`The PyTorch engine failed on ${runDir} (exit ${result.code}); its trainer.log says why. Rerun the sweep to resume.`);
    return result.summary;
  } finally {
    opts.onTorchRun?.(null);
  }
}

/** One loaded model at a time: cells that share a model (the usual sweep) load it once. */
class ModelCache {
  private current: { dir: string; model: LanguageModel } | null = null;

  async get(dir: string): Promise<LanguageModel> {
    if (this.current?.dir === dir) return this.current.model;
    this.dispose();
    this.current = { dir, model: await loadModel(dir) };
    return this.current.model;
  }

  dispose(): void {
    this.current?.model.dispose();
    this.current = null;
  }
}
