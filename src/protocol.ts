// Every message between the trainer process, the extension host and the webviews. One discriminated union per
// direction, keyed by `type`; each member says who sends it to whom. Switches over them end in assertNever.
import type { BackendReport, GpuAdapter } from './backend';
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
  /** What the backend ran on, in words (BackendReport.device). */
  device: string;
  /** The WebGPU adapter, when the run was on webgpu. */
  gpu?: GpuAdapter;
  /** How many data warnings (one per kind and file, each with its count and lines) were found before training; absent in older runs. */
  warnings?: number;
}

/** Trainer process → extension host (over IPC) and → CLI printer. */
export type TrainerMessage =
  | { type: 'started'; runDir: string; config: TrainConfig; backend: BackendReport; model: ModelSummary; trainableParameters: number;
      vanillaParameters: number; totalSteps: number; startStep: number; examples: { train: number; validation: number };
      /** The data warnings, one line each (also sent as `log` messages); empty when the data is clean. */
      warnings: string[] }
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

// ---- Extension host ↔ training panel (webview). The run folder is the source of truth: the panel asks for the
// full state whenever it (re)loads and then receives deltas; it keeps nothing the host could not rebuild.

/** running/stopping: a trainer process of this window works on the run; the others are read from the run folder. */
export type RunStatus = 'running' | 'stopping' | 'completed' | 'early-stopped' | 'stopped' | 'interrupted' | 'failed';

/** failure.json in a run folder: written by the extension host when the trainer process ends without finishing. */
export interface RunFailure {
  message: string;
  /** The last lines the process printed. */
  tail: string[];
  /** The last step in metrics.jsonl when it failed. */
  step: number;
  time: string;
}

/** What only the live trainer knows (it is not in the run folder until summary.json). */
export interface LiveInfo {
  backend: string;
  device: string;
  etaMs: number | null;
  startStep: number;
  model: string;
  trainableParameters: number;
  /** The data warnings the trainer reported before its first step. */
  warnings: string[];
}

/** Everything the panel shows about a run except its points. */
export interface RunHeader {
  /** The run folder's name, e.g. 2025-01-31_12-00-00_sentiment. */
  id: string;
  /** For people: the id without its timestamp. */
  name: string;
  dir: string;
  status: RunStatus;
  /** config.json of the run (absolute paths); null before the trainer wrote it. */
  config: TrainConfig | null;
  summary: RunSummary | null;
  failure: RunFailure | null;
  /** Adapter files present in the run folder. */
  adapters: { best: boolean; final: boolean };
  /** Not running, not finished, and a checkpoint exists. */
  resumable: boolean;
  live: LiveInfo | null;
}

/** The points of a run: metrics.jsonl parsed (or the lines appended since the last message). */
export interface RunPoints {
  train: StepPoint[];
  eval: EvalPoint[];
  baseline: BaselinePoint | null;
}

/** Extension host → training panel. */
export type HostToWebview =
  | ({ type: 'state'; run: RunHeader } & RunPoints) // host → panel: everything, as an answer to `ready` or after a reset (resume)
  | ({ type: 'points' } & RunPoints) // host → panel: lines appended to metrics.jsonl since the last message
  | { type: 'status'; run: RunHeader }; // host → panel: status, live info, adapters or summary changed

/** Training panel → extension host. */
export type WebviewToHost =
  | { type: 'ready' } // panel → host: the page (re)loaded; answer with `state`
  | { type: 'stop' } // panel → host: Stop pressed (a second press ends the process at once)
  | { type: 'resume' } // panel → host: continue an interrupted or stopped run from its checkpoint
  | { type: 'saveAdapter' } // panel → host: copy the run's adapter into the project (save dialog)
  | { type: 'exportCsv' } // panel → host: write the run's metrics as CSV (save dialog)
  | { type: 'showLog' }; // panel → host: reveal the ULPT output channel

/** The panel's saved webview state (vscode.setState); the host's panel serializer reads runDir after a reload. */
export interface PanelState {
  runDir: string;
  smoothing: number;
  logScale: boolean;
}

export function assertNever(x: never): never {
  throw new Error(`Unexpected message: ${JSON.stringify(x)}`);
}
