// Every message between the trainer process, the extension host and the webviews. One discriminated union per
// direction, keyed by `type`; each member says who sends it to whom. Switches over them end in assertNever.
import type { BackendReport, ConcreteBackend, GpuAdapter } from './backend';
import type { Engine, Method, TrainConfig } from './config';
import type { Batch } from './train/batch';
import type { PromptTensors } from './ulpt/prompt';

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
  /** The task metric's keys (src/train/evaluate.ts: accuracy and macro_f1, f1, exact_match, …), named as Hugging Face evaluate names them. */
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
  /** The key of `best` that picked it: the task metric's main one (primaryMetric); absent in runs from before it. */
  metric?: string;
  /** The un-prompted model on the validation set (absent without validation data, or on resume). */
  baseline: BaselinePoint | null;
  final: { loss: number } | null;
  trainableParameters: number;
  seconds: number;
  backend: string;
  /** What the backend ran on, in words (BackendReport.device, with the thread count). */
  device: string;
  /** Threads that computed each step (absent in runs from before the setting existed). */
  threads?: number;
  /** The WebGPU adapter, when the run was on webgpu. */
  gpu?: GpuAdapter;
  /** How many data warnings (one per kind and file, each with its count and lines) were found before training; absent in older runs. */
  warnings?: number;
  /** The engine that trained (absent: builtin), its devices and processes (the PyTorch engine's torchrun world). */
  engine?: Engine;
  devices?: string[];
  worldSize?: number;
  /** "fsdp": the model's blocks were sharded over the processes (absent: each process held the whole model). */
  sharding?: 'fsdp';
}

/** What the PyTorch engine reports where the built-in one names its TensorFlow.js backend (started.backend). */
export type EngineBackendReport = Omit<BackendReport, 'name'> & { name: BackendReport['name'] | 'torch' };

/** Trainer → the run folder's trainer.log (one JSON line each; the extension follows it), the CLI printer, `ulpt train --json`. */
export type TrainerMessage =
  | { type: 'started'; runDir: string; config: TrainConfig; backend: EngineBackendReport; model: ModelSummary; trainableParameters: number;
      vanillaParameters: number; totalSteps: number; startStep: number; examples: { train: number; validation: number };
      /** The data warnings, one line each (also sent as `log` messages); empty when the data is clean. */
      warnings: string[];
      /** Threads per step (backend.device says it too); absent from trainers before the setting existed. */
      threads?: number;
      /** The PyTorch engine's: engine "torch", its devices and world size (absent from the built-in engine). */
      engine?: Engine; devices?: string[]; worldSize?: number; sharding?: 'fsdp' }
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
  | { type: 'tryAdapter' } // panel → host: open the run's adapter in the playground
  | { type: 'exportCsv' } // panel → host: write the run's metrics as CSV (save dialog)
  | { type: 'showLog' }; // panel → host: reveal the ULPT output channel

/** The panel's saved webview state (vscode.setState); the host's panel serializer reads runDir after a reload. */
export interface PanelState {
  runDir: string;
  smoothing: number;
  logScale: boolean;
}

/** What a data-parallel training worker (worker_threads, src/train/worker.ts) is started with (its workerData). */
export interface WorkerStart {
  backend: ConcreteBackend;
  nativeSearchPath?: string;
  modelDir: string;
  /** The run's thread count (a pass's memory budget is shared by them). */
  threads: number;
  prompt: { method: Method; length: number; rank: number; hidden: number; seed: string; alignment: boolean };
}

/** Trainer → training worker. */
export type WorkerRequest =
  // trainer → worker: loss and prompt gradients of these micro-batch shards at these prompt values
  { type: 'gradients'; id: number; values: PromptTensors; batches: Batch[]; normalizer: number };

/** Training worker → trainer. */
export type WorkerReply =
  | { type: 'ready' } // worker → trainer: backend started, model and prompt built
  | { type: 'gradients'; id: number; loss: number; grads: Record<string, Float32Array> } // worker → trainer: the answer to `gradients`
  | { type: 'error'; id: number | null; message: string; stack?: string }; // worker → trainer: a request (id) or the start-up (null) failed

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

// ---- The side-panel monitor (webview view), the run comparison, the adapter inspector and the playground. Each
// webview sends `ready` when it (re)loads and gets the full state; everything it shows is rebuilt from files.

/** One row of the monitor: a run as its folder (and, while it trains, its owner) says it stands. */
export interface MonitorRun {
  id: string;
  name: string;
  dir: string;
  status: RunStatus;
  /** Who trains it now: a trainer process of this window, another process (`ulpt train` in a terminal, another window), or nobody. */
  owner: 'window' | 'process' | null;
  /** The model folder for people (a Hugging Face repo id for a cache snapshot). */
  model: string;
  /** "ULPT r=2 · n=10" or "prompt tuning · n=10". */
  method: string;
  /** n, the virtual tokens. */
  promptLength: number | null;
  task: 'classification' | 'generation' | null;
  step: number;
  totalSteps: number | null;
  best: { metric: string; value: number; step: number } | null;
  /** Training time so far (the trainer's clock, across resumes). */
  elapsedMs: number | null;
  /** While running: the time left at the recent pace. */
  etaMs: number | null;
  lastLoss: number | null;
  /** The training loss, smoothed and reduced to a few dozen values for the sparkline. */
  sparkline: number[];
  /** How many training steps the sparkline summarises. */
  trainPoints: number;
  resumable: boolean;
  adapters: { best: boolean; final: boolean };
  /** First line of failure.json for a failed run. */
  error: string | null;
  /** When the run last wrote anything (ms since epoch). */
  modified: number;
}

/** A sweep (`ulpt sweep`: its folder's sweep.json) as the monitor groups it: its runs' folders, in the grid's order. */
export interface MonitorSweep {
  name: string;
  /** The sweep folder (sweep.json, results.md). */
  dir: string;
  /** Every cell's run folder, including those not started yet (the group shows done of all). */
  runs: string[];
}

/** Per-run buttons of the monitor. */
export type MonitorAction = 'open' | 'stop' | 'resume' | 'revealAdapter' | 'saveAdapter' | 'try' | 'delete';

/** Extension host → monitor view. */
export type HostToMonitor =
  | { type: 'runs'; runs: MonitorRun[]; sweeps: MonitorSweep[]; workspace: boolean } // host → monitor: every run, newest first, and the sweeps that group them (answer to `ready`; a run appeared or went away)
  | { type: 'run'; run: MonitorRun }; // host → monitor: one run changed

/** Monitor view → extension host. */
export type MonitorToHost =
  | { type: 'ready' } // monitor → host: the view (re)loaded; answer with `runs`
  | { type: 'action'; action: MonitorAction; dir: string } // monitor → host: a row's button
  | { type: 'compare'; dirs: string[] } // monitor → host: overlay the selected runs in one panel
  | { type: 'train' }; // monitor → host: the empty state's "Train Prompt Adapter…"

/** A run in the comparison panel: its curves and the settings the legend may show. */
export interface CompareRun {
  dir: string;
  name: string;
  status: RunStatus;
  /** [step, training loss] pairs in step order. */
  train: [number, number][];
  eval: EvalPoint[];
  best: { metric: string; value: number; step: number } | null;
}

/** A training setting whose value differs between the compared runs: one value per run, in run order. */
export interface ConfigDifference {
  field: string;
  label: string;
  values: string[];
}

/** Extension host → comparison panel. */
export type HostToCompare =
  | { type: 'state'; runs: CompareRun[]; differences: ConfigDifference[]; shared: { label: string; value: string }[] } // host → compare: everything
  | { type: 'run'; run: CompareRun }; // host → compare: one run's curves grew or its status changed

/** Comparison panel → extension host. */
export type CompareToHost =
  | { type: 'ready' } // compare → host: the page (re)loaded; answer with `state`
  | { type: 'open'; dir: string }; // compare → host: open that run's training panel

/** The state of the comparison panel kept by the webview (vscode.setState), so the serializer can restore it. */
export interface CompareState {
  dirs: string[];
  smoothing: number;
}

/** A vocabulary token near a virtual token. */
export interface TokenNeighbourView {
  id: number;
  /** The token as text (decoded alone; may be a fragment of a word). */
  text: string;
  cosine: number;
}

/** What the inspector shows about a readable adapter (everything computed from the file alone). */
export interface AdapterView {
  file: string;
  bytes: number;
  method: 'ulpt' | 'prompt-tuning';
  n: number;
  r: number;
  d: number;
  alignment: boolean;
  seed: string;
  /** "1,736 vs 76,800 (2.3 %)" and its parts. */
  parameters: { trainable: number; vanilla: number; ratio: number; text: string };
  base: { modelType: string; name: string; fingerprint: string; vocabSize: number };
  task: { type: 'classification' | 'generation'; template: string; inputField: string; targetField: string; labels: { name: string; word: string }[] };
  /** The training settings recorded in the file (metadata `training`), as label/value pairs. */
  training: { label: string; value: string }[];
  steps: number | null;
  backend: string | null;
  metrics: Record<string, number>;
  created: string;
  scatter: { points: [number, number][]; source: 'z' | 'z-pca' | 'prompt-pca'; explained: [number, number] | null; axes: [string, string] } | null;
  /** Per-dimension scale and shift (ULPT with alignment), reduced for the chart. */
  scale: { index: number[]; min: number[]; max: number[]; length: number } | null;
  shift: { index: number[]; min: number[]; max: number[]; length: number } | null;
  /** Norm of each materialised virtual token; null when the prompt is too large to materialise here. */
  norms: number[] | null;
  /** Why a picture is missing, when one is. */
  notes: string[];
}

/** Where the inspector found the adapter's base model (a folder whose embeddings have the adapter's fingerprint). */
export type ModelMatch =
  | { state: 'searching'; candidates: number }
  | { state: 'found'; dir: string; where: 'run' | 'workspace' | 'hf-cache' | 'chosen'; label: string }
  | { state: 'not-found'; searched: { workspace: number; cache: number; cacheDir: string }; checked: number }
  | { state: 'error'; message: string };

/** Typical token-embedding norms of the base model, for the virtual tokens' norms to be read against. */
export interface EmbeddingNorms {
  mean: number;
  median: number;
  p10: number;
  p90: number;
}

/** Metrics of an adapter on a dataset, beside the same model without it. */
export interface EvaluationReport {
  data: string;
  examples: number;
  with: { loss: number; metrics: Record<string, number> };
  without: { loss: number; metrics: Record<string, number> };
  ms: number;
}

/** Extension host → adapter inspector. */
export type HostToInspector =
  | { type: 'adapter'; adapter: AdapterView } // host → inspector: the file read and checked
  | { type: 'invalid'; file: string; message: string } // host → inspector: the file is not a usable adapter (why, for people)
  | { type: 'model'; match: ModelMatch } // host → inspector: the base model search moved on
  | { type: 'neighbours'; tokens: TokenNeighbourView[][]; embeddingNorms: EmbeddingNorms; ms: number } // host → inspector: nearest vocabulary tokens per virtual token
  | { type: 'neighboursFailed'; message: string } // host → inspector: the playground process could not compute them
  | { type: 'evaluation'; state: 'running'; data: string; done: number; total: number } // host → inspector: evaluation progress
  | { type: 'evaluation'; state: 'done'; report: EvaluationReport } // host → inspector: an evaluation finished
  | { type: 'evaluation'; state: 'failed'; data: string; message: string }; // host → inspector: an evaluation failed

/** Adapter inspector → extension host. */
export type InspectorToHost =
  | { type: 'ready' } // inspector → host: the page (re)loaded; answer with `adapter` or `invalid`, then `model`…
  | { type: 'try' } // inspector → host: open the playground for this adapter
  | { type: 'evaluate' } // inspector → host: pick a dataset and evaluate the adapter on it
  | { type: 'exportPeft' } // inspector → host: export to a PEFT folder
  | { type: 'chooseModel' }; // inspector → host: pick the base model folder by hand

/** The model's answer to one input, with or without the adapter. */
export interface PlaygroundAnswer {
  text: string;
  /** Classification: every label with its probability (softmax over the labels' log-likelihoods), best first. */
  scores: { label: string; probability: number; logProb: number }[] | null;
}

export interface PlaygroundResult {
  id: number;
  input: string;
  /** The dataset's answer, for records picked from a dataset. */
  expected: string | null;
  with: PlaygroundAnswer;
  without: PlaygroundAnswer;
  /** Time for both answers, in the playground process. */
  ms: number;
}

export interface PlaygroundInfo {
  file: string;
  name: string;
  task: 'classification' | 'generation';
  template: string;
  inputField: string;
  labels: string[];
}

/** Extension host → playground panel. */
export type HostToPlayground =
  | { type: 'state'; adapter: PlaygroundInfo | null; error: string | null; model: ModelMatch; busy: string | null; results: PlaygroundResult[] } // host → playground: everything
  | { type: 'model'; match: ModelMatch } // host → playground: the base model was found (or not)
  | { type: 'busy'; what: string | null } // host → playground: working on a request (null: idle)
  | { type: 'result'; result: PlaygroundResult } // host → playground: an answer arrived
  | { type: 'failed'; message: string }; // host → playground: a request failed

/** Playground panel → extension host. */
export type PlaygroundToHost =
  | { type: 'ready' } // playground → host: the page (re)loaded; answer with `state`
  | { type: 'run'; input: string } // playground → host: answer this input with and without the adapter
  | { type: 'pickRecords' } // playground → host: choose records of a dataset to run
  | { type: 'chooseModel' } // playground → host: pick the base model folder by hand
  | { type: 'clear' }; // playground → host: forget the results shown

/** Extension host → playground process (dist/playground.js): one request at a time, answered by `id`. */
export type PlaygroundRequest =
  | { type: 'fingerprint'; id: number; dirs: string[] } // host → process: embedding fingerprints of candidate model folders
  | { type: 'predict'; id: number; model: string; adapter: string; inputs: string[] } // host → process: answers with and without the adapter
  | { type: 'neighbours'; id: number; model: string; adapter: string; k: number } // host → process: nearest vocabulary tokens of each virtual token
  | { type: 'records'; id: number; file: string; inputField: string; targetField: string; limit: number } // host → process: the first records of a dataset
  | { type: 'evaluate'; id: number; model: string; adapter: string; data: string }; // host → process: metrics on a dataset, with and without

/** Playground process → extension host. */
export type PlaygroundReply =
  | { type: 'ready'; backend: string; device: string } // process → host: the backend is up
  | { type: 'fingerprints'; id: number; results: { dir: string; fingerprint: string | null; error: string | null }[] } // process → host
  | { type: 'predictions'; id: number; results: { with: PlaygroundAnswer; without: PlaygroundAnswer; ms: number }[]; loadMs: number } // process → host
  | { type: 'neighbours'; id: number; tokens: TokenNeighbourView[][]; embeddingNorms: EmbeddingNorms; ms: number } // process → host
  | { type: 'records'; id: number; records: { input: string; expected: string | null; where: string }[]; total: number } // process → host
  | { type: 'progress'; id: number; done: number; total: number } // process → host: evaluation progress
  | { type: 'evaluation'; id: number; report: EvaluationReport } // process → host
  | { type: 'failed'; id: number; message: string }; // process → host: the request failed (a message for people)
