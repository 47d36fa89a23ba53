// Every message between the trainer process, the extension host and the webviews. One discriminated union per
// direction, keyed by `type`; each member says who sends it to whom. Switches over them end in assertNever.
import type { BackendReport } from './backend';
import type { TrainConfig } from './config';

export interface ModelSummary {
  modelType: string;
  name: string;
  hiddenSize: number;
  vocabSize: number;
  numLayers: number;
  parameters: number;
  fingerprint: string;
}

export interface StepPoint {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokens: number;
  tokensPerSecond: number;
  elapsedMs: number;
}

export interface EvalPoint {
  step: number;
  loss: number;
  /** accuracy and macro_f1 (classification) or exact_match (generation), all in [0, 1]. */
  metrics: Record<string, number>;
  /** The metric that picks the best adapter, and its value. */
  metric: string;
  value: number;
  best: boolean;
}

/** The frozen model evaluated without any prompt: the reference a trained prompt must beat. */
export interface BaselinePoint {
  loss: number;
  metrics: Record<string, number>;
}

export interface RunSummary {
  runDir: string;
  steps: number;
  reason: 'completed' | 'early-stopped' | 'stopped';
  adapter: string | null;
  bestStep: number | null;
  best: Record<string, number> | null;
  /** The un-prompted model on the validation set (absent without validation data, or on resume). */
  baseline: BaselinePoint | null;
  final: { loss: number } | null;
  trainableParameters: number;
  seconds: number;
  backend: string;
}

/** Trainer process → extension host (over IPC) and → CLI printer. */
export type TrainerMessage =
  | { type: 'started'; runDir: string; config: TrainConfig; backend: BackendReport; model: ModelSummary; trainableParameters: number;
      vanillaParameters: number; totalSteps: number; startStep: number; examples: { train: number; validation: number } }
  | ({ type: 'step'; totalSteps: number; etaMs: number } & StepPoint)
  | ({ type: 'eval' } & EvalPoint)
  | ({ type: 'baseline' } & BaselinePoint)
  | { type: 'checkpoint'; step: number; path: string }
  | { type: 'adapter'; step: number; path: string; reason: 'best' | 'final' }
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  | { type: 'finished'; summary: RunSummary }
  | { type: 'error'; message: string; stack?: string };

/** Extension host → trainer process. */
export type HostMessage =
  | { type: 'start'; config: TrainConfig; runDir: string; resume: boolean }
  | { type: 'stop' };

/** One line of a run's append-only metrics.jsonl. */
export type MetricsLine = ({ type: 'train' } & StepPoint) | ({ type: 'eval' } & EvalPoint) | ({ type: 'baseline'; step: 0 } & BaselinePoint);

export function assertNever(x: never): never {
  throw new Error(`Unexpected message: ${JSON.stringify(x)}`);
}
