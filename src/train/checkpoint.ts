// A run's resumable state in one safetensors file: the prompt's variables, AdamW's moments, and the loop's
// counters in metadata. Written atomically, so a crash mid-write leaves the previous checkpoint intact.
import * as fs from 'node:fs';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../io/safetensors';
import type { PromptModule, PromptTensors } from '../ulpt/prompt';
import type { RunInputs } from './inputs';
import type { AdamW } from './optimizer';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';

export interface LoopState {
  /** Optimiser steps completed. */
  step: number;
  bestValue: number | null;
  bestStep: number | null;
  bestMetrics: Record<string, number> | null;
  evalsWithoutImprovement: number;
  elapsedMs: number;
  /** Identifies the prompt's shape, so a checkpoint is never loaded into a different configuration. */
  shape: { method: string; length: number; rank: number; hidden: number; alignment: boolean };
  /** Threads that computed the steps (the gradient sums' order depends on it; a resumed "auto" run keeps it). */
  threads?: number;
  /** What the run was trained with up to this checkpoint (a resume compares; absent in older checkpoints). */
  inputs?: RunInputs;
}

const PROMPT_KEYS: (keyof PromptTensors)[] = ['z', 'scale', 'shift', 'prompt'];

export async function saveCheckpoint(file: string, prompt: PromptModule, optimizer: AdamW, loop: LoopState): Promise<void> {
  const tensors: Record<string, TensorToWrite> = {};
  const values = await prompt.read();
  for (const key of PROMPT_KEYS) {
    const data = values[key];
    if (data) tensors[`prompt.${key}`] = { shape: [data.length], data };
  }
  const adam = await optimizer.state();
  for (const [name, data] of adam.m) tensors[`adam.m.${name}`] = { shape: [data.length], data };
  for (const [name, data] of adam.v) tensors[`adam.v.${name}`] = { shape: [data.length], data };
  writeSafetensors(file, tensors, { 'ulpt-checkpoint': JSON.stringify({ ...loop, optimizerSteps: adam.t }) });
}

/** The thread count a checkpoint's steps were computed with, if it says (checkpoints from before it did not). */
export function checkpointThreads(file: string): number | undefined {
  if (!fs.existsSync(file)) return undefined;
  const st = SafetensorsFile.open(file);
  try {
    const meta = st.header.metadata['ulpt-checkpoint'];
    const threads = meta ? (JSON.parse(meta) as Partial<LoopState>).threads : undefined;
    return typeof threads === 'number' && Number.isInteger(threads) && threads >= 1 ? threads : undefined;
  } catch {
    return undefined; // loadCheckpoint reports a damaged checkpoint properly
  } finally {
    st.close();
  }
}

/** The inputs a checkpoint records (see inputs.ts), or null for one from before they were recorded. */
export function checkpointInputs(file: string): RunInputs | null {
  const st = SafetensorsFile.open(file);
  try {
    const meta = st.header.metadata['ulpt-checkpoint'];
    const inputs = meta ? (JSON.parse(meta) as Partial<LoopState>).inputs : undefined;
    return inputs && typeof inputs === 'object' && inputs.settings && inputs.data && inputs.model ? inputs : null;
  } catch {
    return null; // loadCheckpoint reports a damaged checkpoint properly
  } finally {
    st.close();
  }
}

export function loadCheckpoint(file: string, prompt: PromptModule, optimizer: AdamW): LoopState {
  if (!fs.existsSync(file)) throw new Error(`There is no checkpoint to resume from: looked for ${file}.`);
  const st = SafetensorsFile.open(file);
  try {
    const meta = st.header.metadata['ulpt-checkpoint'];
    if (!meta) throw new Error(`${file} is not a ULPT checkpoint (no "ulpt-checkpoint" metadata).`);
    const loop = JSON.parse(meta) as LoopState & { optimizerSteps: number };
    const want = { method: prompt.method, length: prompt.length, rank: prompt.rank, hidden: prompt.hidden, alignment: prompt.alignment };
    if (JSON.stringify(loop.shape) !== JSON.stringify(want)) {
      throw new Error(`${file} holds a ${JSON.stringify(loop.shape)} prompt but the configuration asks for ${JSON.stringify(want)}.`);
    }
    const values: PromptTensors = {};
    for (const key of PROMPT_KEYS) if (st.keys().includes(`prompt.${key}`)) values[key] = st.float32(`prompt.${key}`);
    prompt.assign(values);
    const read = (kind: 'm' | 'v') => new Map([...prompt.variables.keys()].map((name) => [name, st.float32(`adam.${kind}.${name}`)]));
    optimizer.restore({ t: loop.optimizerSteps, m: read('m'), v: read('v') });
    const { optimizerSteps: _, ...state } = loop;
    return state;
  } finally {
    st.close();
  }
}
