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

/** Trainer → the run folder's trainer.log (one JSON line each; the extension follows it), the CLI printer, `ulpt train --json`. */
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


/** One line of a run's append-only metrics.jsonl. */
export type MetricsLine = ({ type: 'train' } & StepPoint) | ({ type: 'eval' } & EvalPoint) | ({ type: 'baseline'; step: 0 } & BaselinePoint);

// ---- Extension host ↔ training panel (webview). The run folder is the source of truth: the panel asks for the
// full state whenever it (re)loads and then receives deltas; it keeps nothing the host could not rebuild.

/** running/stopping: a live process holds the run's lock.json (stopping: a stop was requested); the others come from the files. */
export type RunStatus = 'running' | 'stopping' | 'completed' | 'early-stopped' | 'stopped' | 'interrupted' | 'failed';

/**
 * failure.json in a run folder: written by the trainer when training throws, or by the extension host when the
 * trainer process it started dies without finishing (crash, out of memory).
 */
export interface RunFailure {
  message: string;
  /** The last lines the process printed. */
  tail: string[];
  /** The last step in metrics.jsonl when it failed. */
  step: number;
  time: string;
  /** A fault in the program rather than in the user's input (config, data, files): only then is `stack` kept. */
  internal?: boolean;
  stack?: string;
}

/** What a run started on (started.json, written by the trainer): shown while it runs and after it ended. */
export interface StartedInfo {
  backend: string;
  device: string;
  startStep: number;
  model: string;
  trainableParameters: number;
  examples: { train: number; validation: number };
  /** The data warnings the trainer reported before its first step. */
  warnings: string[];
}

/** The process that trains a run now (its lock.json). */
export interface RunOwnerInfo {
  pid: number;
  host: string;
  /** "ulpt train" (a terminal) or "ULPT Studio". */
  owner: string;
  since: string;
}

/** Everything the panel shows about a run except its points. */
export interface RunHeader {
  /** The run folder's name, e.g. 2025-01-31_12-00-00_sentiment. */
  id: string;
  /** For people: config or dataset name, method and a short suffix that tells runs apart ("sentiment · ULPT r=2 · 7f3a"). */
  name: string;
  /** When the run was created (from its folder name, else the folder's time), ISO. */
  created: string;
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
  started: StartedInfo | null;
  /** Set while a live process trains the run (this window's, another window's, or `ulpt train` in a terminal). */
  owner: RunOwnerInfo | null;
  /** Why an interrupted run stopped, when known (e.g. its trainer process is gone). */
  interruption: string | null;
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

// ---- Extension host ↔ tokenizer worker (dist/tokenize.js, a worker thread: the wizard's template preview tokenizes
// off the host's main thread, and without TensorFlow.js, which the worker does not load).

/** Extension host → tokenizer worker. */
export type TokenizeRequest = { type: 'tokenize'; id: number; model: string; texts: string[] }; // host → worker: tokenize with the model folder's tokenizer.json

/** Tokenizer worker → extension host. */
export type TokenizeReply =
  | { type: 'tokens'; id: number; results: { ids: number[]; pieces: string[] }[] } // worker → host: per text, the ids and each id's text
  | { type: 'error'; id: number; message: string }; // worker → host: the tokenizer could not be loaded or used

export function assertNever(x: never): never {
  throw new Error(`Unexpected message: ${JSON.stringify(x)}`);
}
