// The training configuration: one shape for CLI flags, `--config FILE`, tasks.json and the extension's quick pick.
// Field names are the JSON names a user writes.
import Ajv from 'ajv';
import * as path from 'node:path';
import type { BackendName } from './backend';
import { isHubDataRef, isHubModelRef, type HubSources } from './hub/refs';
import { findPreset, unknownPresetMessage, withPreset } from './presets';
import schema from './config.schema.json';

export type Method = 'ulpt' | 'prompt-tuning';
export type TaskType = 'classification' | 'generation';
/** The metric a task is scored by (Hugging Face `evaluate`'s names; src/data/metrics.ts computes them). */
export type MetricName = 'accuracy' | 'f1' | 'matthews_correlation' | 'pearson' | 'spearmanr' | 'squad' | 'multirc' | 'gsm8k' | 'exact_match';

/** Which task type each metric scores: label predictions (classification) or generated text (generation). */
export const METRIC_TASK_TYPE: Record<MetricName, TaskType> = {
  accuracy: 'classification', f1: 'classification', matthews_correlation: 'classification', multirc: 'classification',
  pearson: 'generation', spearmanr: 'generation', squad: 'generation', gsm8k: 'generation', exact_match: 'generation',
};

/** The task's metric: the one it names, else accuracy (classification) or exact_match (generation). */
export function taskMetric(task: Pick<TaskConfig, 'type' | 'metric'>): MetricName {
  return task.metric ?? (task.type === 'classification' ? 'accuracy' : 'exact_match');
}
/** builtin: TensorFlow.js in Node (src/); torch: the PyTorch engine (python/ulpt_torch), same job, same run folder. */
export type Engine = 'builtin' | 'torch';

export interface TaskConfig {
  type: TaskType;
  /** Prompt template; `{field}` is replaced by the record's field. Default "{input}". */
  template: string;
  /** Field holding the text for `{input}` when the template is the default. */
  inputField: string;
  /** Field holding the answer: the target text (generation) or the label (classification). */
  targetField: string;
  /**
   * Classification only: label → verbalizer text appended after the prompt (e.g. {"pos": " positive"}).
   * When absent the label values themselves are used, with a leading space.
   */
  labels?: Record<string, string>;
  /**
   * Generation only: the text between the prompt and the target, as the model reads it. Default: " " unless the
   * prompt ends or the target starts with whitespace. Encoder-decoder models ignore it (the target is the decoder's).
   */
  separator?: string;
  /** The metric that scores the task and picks the best adapter (absent in configs from before it: taskMetric's default). */
  metric?: MetricName;
  /** f1 and multirc: the label value that is the positive class. Default: the label "1" if there is one, else the second label. */
  positiveLabel?: string;
  /** multirc: the field, or fields together, whose values say which question an answer option belongs to (dotted paths reach into objects). */
  groupField?: string | string[];
  /** squad: the field holding every gold answer (a string or a list of strings; a dotted path reaches into objects). Default: the target field. */
  answersField?: string;
}

export interface TrainConfig {
  model: string;
  train: string;
  validation?: string;
  /** Fraction of the training file held out for evaluation when no validation file is given (0 = none). */
  validationSplit: number;
  method: Method;
  /** r: width of Z. Ignored by prompt tuning. */
  rank: number;
  /** n: number of virtual tokens. */
  promptLength: number;
  /** ULPT's learnable scale and shift vectors (turn off only for the ablation). */
  alignment: boolean;
  /**
   * ULPT's initial scale: "one" (the paper: 1) or "embedding" (σ_emb / std(Z·A), so the initial prompt has the
   * spread of the model's token embeddings whatever r is).
   */
  scaleInit: 'one' | 'embedding';
  steps: number;
  lr: number;
  batchSize: number;
  gradAccumulation: number;
  warmupSteps: number;
  weightDecay: number;
  /** Global-norm gradient clipping; 0 disables. */
  maxGradNorm: number;
  /**
   * Token budget per example (template + target), before the virtual tokens. Unset: what the model's context
   * holds after the virtual tokens (defaultMaxLength); a run's stored config.json always has it filled in.
   */
  maxLength?: number;
  evalEvery: number;
  checkpointEvery: number;
  /** Stop after this many evaluations without improvement; 0 disables. */
  earlyStoppingPatience: number;
  seed: string;
  out: string;
  backend: BackendName;
  /** Which engine trains (absent in configs from before the PyTorch engine: builtin). */
  engine?: Engine;
  /** Threads per training step (data-parallel workers on wasm/cpu); "auto": one per core, within batch and memory. */
  threads: number | 'auto';
  /** Data warnings (invalid UTF-8, empty targets, cut inputs, labels only in validation) are errors. */
  strict: boolean;
  task: TaskConfig;
  /** The paper task whose dataset, template, labels and metric filled the fields the user left out (src/presets/). */
  preset?: string;
  /** Only the records whose fields have these values are used, in training and validation data (MRQA's subset). */
  filter?: Record<string, string | number | boolean>;
  /**
   * Where the Hub references among model/train/validation came from, filled in when they are resolved (src/hub/
   * resolve.ts): a run's config.json then holds the local paths and what the user wrote, with its commit.
   */
  hub?: HubSources;
}

/** maxLength when the config leaves it unset: the model's context after the virtual tokens, capped (long-context models). */
export function defaultMaxLength(maxPositions: number, promptLength: number): number {
  return Math.min(DEFAULT_MAX_LENGTH_CAP, maxPositions - promptLength);
}

// ---- Resolution: defaults, validation against the JSON schema (also contributed to VS Code), relative paths.

export const CONFIG_SCHEMA = schema;

const ajv = new Ajv({ allErrors: true, useDefaults: false, allowUnionTypes: true });
const validateSchema = ajv.compile(schema);

/** One thing wrong with a configuration: the field as written in a config file ("task.template") and what is wrong. */
export interface ConfigProblem {
  field: string;
  message: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(message: string, readonly problems: ConfigProblem[] = []) {
    super(message);
  }
}

const MAX_SEED = (1n << 64n) - 1n;
const SEED_RULE = `must be a whole number from 0 to ${MAX_SEED} (64 bits)`;

function valueAt(raw: unknown, field: string): unknown {
  let v: unknown = raw;
  for (const part of field.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}

/** What ajv says, in words a user reads ("must be at least 1", not "must be >= 1"; never a raw pattern). */
function describe(e: { keyword: string; message?: string; params: Record<string, unknown> }, field: string): string {
  if (field === 'seed' && ['pattern', 'minimum', 'type'].includes(e.keyword)) return SEED_RULE;
  switch (e.keyword) {
    case 'minimum': return `must be at least ${String(e.params.limit)}`;
    case 'maximum': return `must be at most ${String(e.params.limit)}`;
    case 'exclusiveMinimum': return `must be greater than ${String(e.params.limit)}`;
    case 'type': {
      const t = String(e.params.type).split(',');
      const words: Record<string, string> = { integer: 'a whole number', number: 'a number', string: 'a string (text)', boolean: 'true or false', object: 'an object ({…})' };
      return `must be ${t.map((x) => words[x] ?? x).join(' or ')}`;
    }
    case 'enum': return `must be one of: ${(e.params.allowedValues as unknown[]).join(', ')}`;
    case 'additionalProperties': return 'is not a setting of this version';
    default: return e.message ?? e.keyword;
  }
}

/** Every problem the schema (and the seed's 64-bit range) finds, each naming its field. */
export function configProblemList(raw: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!validateSchema(raw)) {
    const seen = new Set<string>();
    for (const e of validateSchema.errors ?? []) {
      // "train is required unless there is a preset" fails as the 'required' error itself plus an 'if' summary of it.
      if (e.keyword === 'if') continue;
      let field = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
      if (e.keyword === 'additionalProperties') field = [field, (e.params as { additionalProperty: string }).additionalProperty].filter(Boolean).join('.');
      if (e.keyword === 'required') field = [field, (e.params as { missingProperty: string }).missingProperty].filter(Boolean).join('.');
      const message = e.keyword === 'required' ? 'is required' : describe(e as never, field);
      const key = `${field}\0${message}`;
      // A union type ("string or integer") fails once per branch; one line per field and message is enough.
      if (!seen.has(key) && !(field === 'seed' && seen.has(`seed\0${SEED_RULE}`))) problems.push({ field: field || '(config)', message });
      seen.add(key);
    }
  }
  const seed = (raw as { seed?: unknown } | null)?.seed;
  if ((typeof seed === 'string' && /^[0-9]+$/.test(seed)) || (typeof seed === 'number' && Number.isInteger(seed) && seed >= 0)) {
    if (BigInt(seed) > MAX_SEED) problems.push({ field: 'seed', message: SEED_RULE });
  }
  return problems;
}

/** Every error the schema finds, one per line, naming the field: "steps: must be at least 1". */
export function configProblems(raw: unknown): string[] {
  return configProblemList(raw).map((p) => `${p.field}: ${p.message}`);
}

/**
 * How the user wrote each field, for messages: "--prompt-length" for a flag, "promptLength" in a file. Fields
 * without an entry are named as in a config file.
 */
export type FieldNames = (field: string) => string;

/** "the command line has a problem: --steps must be at least 1 (got 0)" and friends, one problem per line. */
export function describeProblems(problems: ConfigProblem[], raw: unknown, source: string, names: FieldNames = (f) => f): string {
  const lines = problems.map((p) => {
    const value = p.field === '(config)' ? undefined : valueAt(raw, p.field);
    const got = value === undefined || p.message === 'is required' ? '' : ` (got ${JSON.stringify(value)})`;
    return `${names(p.field)} ${p.message}${got}`;
  });
  return `${source} has ${problems.length === 1 ? 'a problem' : `${problems.length} problems`}:\n  ${lines.join('\n  ')}`;
}

type Raw = Partial<Omit<TrainConfig, 'task' | 'seed'>> & { seed?: string | number; task?: Partial<TaskConfig>; $schema?: string };

/** The token budget per example when the config leaves it unset: the model's context after n virtual tokens, at most this. */
export const DEFAULT_MAX_LENGTH_CAP = 1024;

/**
 * Fills defaults and resolves paths relative to `baseDir` (the config file's folder, or the working directory for
 * CLI flags). Throws ConfigError listing every problem at once, each named as `names` says the user wrote it.
 * `maxLength` stays unset when the config leaves it so: it depends on the model (see defaultMaxLength).
 */
export function resolveConfig(given: Raw, baseDir: string, source = 'the configuration', names?: FieldNames): TrainConfig {
  const raw = presetFilled(given, source, names);
  const problems = configProblemList(raw);
  if (problems.length) throw new ConfigError(describeProblems(problems, raw, source, names), problems);
  // A Hub model (org/name[@rev], when no such folder exists) and a Hub dataset file (hf://…) stay references:
  // src/hub/resolve.ts turns them into cache paths once, before a run starts.
  const abs = (p: string) => (isHubDataRef(p) ? p : path.resolve(baseDir, p));
  const model = isHubModelRef(raw.model!, baseDir) ? raw.model! : abs(raw.model!);
  const type = raw.task?.type ?? 'generation';
  const task: TaskConfig = {
    type,
    template: raw.task?.template ?? '{input}',
    inputField: raw.task?.inputField ?? 'input',
    targetField: raw.task?.targetField ?? (type === 'classification' ? 'label' : 'target'),
    ...(raw.task?.labels ? { labels: raw.task.labels } : {}),
    ...(raw.task?.separator !== undefined ? { separator: raw.task.separator } : {}),
    metric: taskMetric({ type, metric: raw.task?.metric }),
    ...(raw.task?.positiveLabel !== undefined ? { positiveLabel: raw.task.positiveLabel } : {}),
    ...(raw.task?.groupField !== undefined ? { groupField: raw.task.groupField } : {}),
    ...(raw.task?.answersField !== undefined ? { answersField: raw.task.answersField } : {}),
  };
  const metricProblems = taskMetricProblems(task);
  if (metricProblems.length) throw new ConfigError(describeProblems(metricProblems, raw, source, names), metricProblems);
  const train = abs(raw.train!);
  const trainName = isHubDataRef(train) ? train.split('/').pop()! : path.basename(train);
  const out = raw.out ? abs(raw.out) : abs(path.join('adapters', `${trainName.replace(/\.[^.]+$/, '').replace(/[*?]/g, '') || 'hub-data'}.ulpt`));
  return {
    model,
    train,
    ...(raw.validation ? { validation: abs(raw.validation) } : {}),
    validationSplit: raw.validationSplit ?? 0,
    method: raw.method ?? 'ulpt',
    rank: raw.rank ?? 2,
    promptLength: raw.promptLength ?? 10,
    alignment: raw.alignment ?? true,
    scaleInit: raw.scaleInit ?? 'one',
    steps: raw.steps ?? 200,
    lr: raw.lr ?? 0.01,
    batchSize: raw.batchSize ?? 8,
    gradAccumulation: raw.gradAccumulation ?? 1,
    warmupSteps: raw.warmupSteps ?? 0,
    weightDecay: raw.weightDecay ?? 1e-5,
    maxGradNorm: raw.maxGradNorm ?? 1,
    ...(raw.maxLength !== undefined ? { maxLength: raw.maxLength } : {}),
    evalEvery: raw.evalEvery ?? 50,
    checkpointEvery: raw.checkpointEvery ?? 50,
    earlyStoppingPatience: raw.earlyStoppingPatience ?? 0,
    seed: String(raw.seed ?? '42'),
    out,
    backend: raw.backend ?? 'auto',
    engine: raw.engine ?? 'builtin',
    threads: raw.threads ?? 'auto',
    strict: raw.strict ?? false,
    task,
    ...(raw.preset !== undefined ? { preset: raw.preset } : {}),
    ...(raw.filter ? { filter: raw.filter } : {}),
    ...(raw.hub ? { hub: raw.hub } : {}),
  };
}

/** The config with its preset's fields filled in where the user gave none; an unknown preset lists the known ones. */
function presetFilled(raw: Raw, source: string, names: FieldNames = (f) => f): Raw {
  // Not a string: the schema says so, in its words.
  if (typeof raw.preset !== 'string') return raw;
  const preset = findPreset(raw.preset);
  if (!preset) {
    const message = unknownPresetMessage(raw.preset);
    throw new ConfigError(`${source} has a problem:
  ${names('preset')}: ${message}`, [{ field: 'preset', message }]);
  }
  return withPreset(preset, raw as Record<string, unknown>) as Raw;
}

/** What the metric needs of the task: the task type it scores, and the fields only some metrics read. */
export function taskMetricProblems(task: Pick<TaskConfig, 'type' | 'metric' | 'positiveLabel' | 'groupField' | 'answersField'>): ConfigProblem[] {
  const metric = taskMetric(task);
  const problems: ConfigProblem[] = [];
  const needs = METRIC_TASK_TYPE[metric];
  if (needs !== task.type) {
    const why = needs === 'classification' ? 'it scores the chosen labels' : 'it scores generated text';
    const instead = task.type === 'classification' ? 'accuracy, f1, matthews_correlation or multirc' : 'exact_match, squad, gsm8k, pearson or spearmanr';
    problems.push({ field: 'task.metric', message: `is for ${needs} tasks (${why}), but task.type is ${task.type}: choose ${instead}` });
  }
  if (metric === 'multirc' && task.groupField === undefined) {
    problems.push({ field: 'task.groupField', message: 'is required by the metric "multirc": the field whose value says which question an answer option belongs to (e.g. ["idx.paragraph", "idx.question"])' });
  }
  const only = (field: 'positiveLabel' | 'groupField' | 'answersField', metrics: MetricName[]) => {
    if (task[field] !== undefined && !metrics.includes(metric)) problems.push({ field: `task.${field}`, message: `is read only by the metric${metrics.length > 1 ? 's' : ''} ${metrics.join(' and ')}; task.metric is ${metric}` });
  };
  only('positiveLabel', ['f1', 'multirc']);
  only('groupField', ['multirc']);
  only('answersField', ['squad']);
  return problems;
}
