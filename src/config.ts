// The training configuration: one shape for CLI flags, `--config FILE`, tasks.json and the extension's quick pick.
// Field names are the JSON names a user writes.
import Ajv from 'ajv';
import * as path from 'node:path';
import type { BackendName } from './backend';
import schema from './config.schema.json';

export type Method = 'ulpt' | 'prompt-tuning';
export type TaskType = 'classification' | 'generation';

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
  /** Token budget per example (template + target), before the virtual tokens. */
  maxLength: number;
  evalEvery: number;
  checkpointEvery: number;
  /** Stop after this many evaluations without improvement; 0 disables. */
  earlyStoppingPatience: number;
  seed: string;
  out: string;
  backend: BackendName;
  /** Threads per training step (data-parallel workers on wasm/cpu); "auto": one per core, within batch and memory. */
  threads: number | 'auto';
  task: TaskConfig;
}

// ---- Resolution: defaults, validation against the JSON schema (also contributed to VS Code), relative paths.

export const CONFIG_SCHEMA = schema;

const ajv = new Ajv({ allErrors: true, useDefaults: false, allowUnionTypes: true });
const validateSchema = ajv.compile(schema);

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Every error the schema finds, one per line, naming the field: "steps: must be >= 1". */
export function configProblems(raw: unknown): string[] {
  if (validateSchema(raw)) return [];
  return (validateSchema.errors ?? []).map((e) => {
    const field = e.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(config)';
    const extra = e.keyword === 'additionalProperties' ? ` "${(e.params as { additionalProperty: string }).additionalProperty}"` : '';
    const allowed = e.keyword === 'enum' ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})` : '';
    return `${field}: ${e.message}${extra}${allowed}`;
  });
}

type Raw = Partial<Omit<TrainConfig, 'task' | 'seed'>> & { seed?: string | number; task?: Partial<TaskConfig>; $schema?: string };

/**
 * Fills defaults and resolves paths relative to `baseDir` (the config file's folder, or the working directory for
 * CLI flags). Throws ConfigError listing every problem at once.
 */
export function resolveConfig(raw: Raw, baseDir: string, source = 'the configuration'): TrainConfig {
  const problems = configProblems(raw);
  if (problems.length) throw new ConfigError(`${source} has ${problems.length === 1 ? 'a problem' : 'problems'}:\n  ${problems.join('\n  ')}`);
  const abs = (p: string) => path.resolve(baseDir, p);
  const type = raw.task?.type ?? 'generation';
  const task: TaskConfig = {
    type,
    template: raw.task?.template ?? '{input}',
    inputField: raw.task?.inputField ?? 'input',
    targetField: raw.task?.targetField ?? (type === 'classification' ? 'label' : 'target'),
    ...(raw.task?.labels ? { labels: raw.task.labels } : {}),
  };
  const train = abs(raw.train!);
  const out = raw.out ? abs(raw.out) : abs(path.join('adapters', `${path.basename(train).replace(/\.[^.]+$/, '')}.ulpt`));
  return {
    model: abs(raw.model!),
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
    maxLength: raw.maxLength ?? 128,
    evalEvery: raw.evalEvery ?? 50,
    checkpointEvery: raw.checkpointEvery ?? 50,
    earlyStoppingPatience: raw.earlyStoppingPatience ?? 0,
    seed: String(raw.seed ?? '42'),
    out,
    backend: raw.backend ?? 'auto',
    threads: raw.threads ?? 'auto',
    task,
  };
}
