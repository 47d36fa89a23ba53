// What the "Train Prompt Adapter…" flow offers, found without VS Code: model folders (a workspace folder or the
// local Hugging Face cache), dataset files, a validation file beside the training file, the task type the
// dataset's fields suggest, and the method presets.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Method, TaskType } from '../../src/config';
import { SUPPORTED_MODEL_TYPES } from '../../src/models/modelTypes';
import { hubCacheDir } from '../../src/hub/cache';
import { isHubDataRef, parseDatasetRef } from '../../src/hub/refs';

// ---- Models

/** A Hugging Face model folder: config.json and weights in safetensors (one file or shards with an index). */
export function isModelFolder(dir: string): boolean {
  try {
    const names = fs.readdirSync(dir);
    return names.includes('config.json') && names.some((n) => n.endsWith('.safetensors'));
  } catch {
    return false;
  }
}

/** config.json names a model_type the engine cannot load (a folder without one is given the benefit of the doubt). */
export function hasUnsupportedModelType(dir: string): boolean {
  try {
    const type = (JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { model_type?: unknown }).model_type;
    return typeof type === 'string' && !SUPPORTED_MODEL_TYPES.includes(type);
  } catch {
    return false;
  }
}

/** The longest sequence a model folder's config.json allows (n_positions, max_position_embeddings, n_ctx), if it says. */
export function modelMaxPositions(dir: string): number | null {
  try {
    const c = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    for (const k of ['n_positions', 'max_position_embeddings', 'n_ctx']) if (Number.isSafeInteger(c[k]) && (c[k] as number) > 0) return c[k] as number;
  } catch {
    /* unreadable: the trainer reports it */
  }
  return null;
}

/**
 * The hub cache folder, as huggingface_hub resolves it: HF_HUB_CACHE, else the older HUGGINGFACE_HUB_CACHE, else
 * $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
 */
export function hfHubCacheDir(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string {
  return hubCacheDir(env, home);
}

export interface CachedModel {
  /** The repository id, e.g. "openai-community/gpt2". */
  repo: string;
  path: string;
  revision: string;
}

/**
 * Models in a hub cache: models--<org>--<name>/snapshots/<revision>/ folders that hold a usable model of a supported
 * architecture (a cache also holds BERTs, Whispers, …, which would only fail to load). The
 * snapshot refs/main points to comes first; other snapshots of the same repo are listed after it.
 */
export function findCachedModels(cacheDir: string): CachedModel[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(cacheDir).filter((n) => n.startsWith('models--'));
  } catch {
    return [];
  }
  const out: CachedModel[] = [];
  for (const entry of entries.sort()) {
    const repo = entry.slice('models--'.length).split('--').join('/');
    const snapshots = path.join(cacheDir, entry, 'snapshots');
    let revisions: string[];
    try {
      revisions = fs.readdirSync(snapshots);
    } catch {
      continue;
    }
    let main = '';
    try {
      main = fs.readFileSync(path.join(cacheDir, entry, 'refs', 'main'), 'utf8').trim();
    } catch {
      /* no refs/main: every snapshot is equal */
    }
    revisions.sort((a, b) => Number(b === main) - Number(a === main) || a.localeCompare(b));
    for (const revision of revisions) {
      const dir = path.join(snapshots, revision);
      if (isModelFolder(dir) && !hasUnsupportedModelType(dir)) out.push({ repo, path: dir, revision });
    }
  }
  return out;
}

// ---- Datasets

export const DATASET_EXTENSIONS = ['jsonl', 'json', 'csv', 'tsv', 'parquet'] as const;
export const DATASET_GLOB = `**/*.{${DATASET_EXTENSIONS.join(',')}}`;
/** Folders never searched for datasets or models. */
export const SEARCH_EXCLUDE = '{**/node_modules/**,**/.git/**,**/.ulpt/**,**/.vscode/**,**/dist/**,**/out/**}';

/** JSON files that are configuration, not data: model folders, tool configs, ULPT configs, PEFT exports. */
const NOT_DATA = new Set([
  'config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'vocab.json',
  'adapter_config.json', 'model.safetensors.index.json', 'package.json', 'package-lock.json', 'tsconfig.json', 'jsconfig.json',
  'ulpt.config.json', 'launch.json', 'tasks.json', 'settings.json', 'extensions.json', 'summary.json', 'failure.json',
]);

export function isDatasetFile(file: string): boolean {
  const base = path.basename(file).toLowerCase();
  const ext = base.split('.').pop() ?? '';
  if (!(DATASET_EXTENSIONS as readonly string[]).includes(ext)) return false;
  if (NOT_DATA.has(base) || base.endsWith('.ulpt.json')) return false;
  // What *Export CSV…* writes (<run-name>-metrics.csv): a run's curves, not training data.
  if (base.endsWith('-metrics.csv')) return false;
  return true;
}

const TRAIN_WORD = /(^|[^a-z])(train(ing)?)([^a-z]|$)/i;
const VALIDATION_WORDS = ['validation', 'valid', 'val', 'dev', 'eval', 'test'];

/** sentiment-train.jsonl → sentiment-validation.jsonl (or -valid, -val, -dev, -eval, -test), if one is among `files`. */
export function findValidationFile(trainFile: string, files: readonly string[]): string | undefined {
  const dir = path.dirname(trainFile);
  const base = path.basename(trainFile);
  const m = TRAIN_WORD.exec(base);
  if (!m) return undefined;
  const have = new Set(files.map((f) => path.resolve(f)));
  for (const word of VALIDATION_WORDS) {
    const candidate = path.resolve(dir, base.slice(0, m.index + m[1].length) + word + base.slice(m.index + m[1].length + m[2].length));
    if (candidate !== path.resolve(trainFile) && have.has(candidate)) return candidate;
  }
  return undefined;
}

// ---- Task type and method

export interface TaskGuess {
  type: TaskType;
  inputField: string;
  targetField: string;
  /** Why, for the quick pick's description. */
  reason: string;
}

const INPUT_FIELDS = ['input', 'text', 'sentence', 'question', 'prompt', 'source', 'content'];
const LABEL_FIELDS = ['label', 'labels', 'class', 'category'];
const TARGET_FIELDS = ['target', 'output', 'answer', 'completion', 'response', 'summary'];

/** Guesses the task from a record's field names: `label` means classification, `target` generation. */
export function guessTask(fields: readonly string[]): TaskGuess | null {
  const has = (names: string[]) => names.find((n) => fields.includes(n));
  const label = has(LABEL_FIELDS);
  const target = has(TARGET_FIELDS);
  const input = has(INPUT_FIELDS) ?? fields.find((f) => f !== label && f !== target);
  if (!input) return null;
  if (label) return { type: 'classification', inputField: input, targetField: label, reason: `the records have a "${label}" field` };
  if (target) return { type: 'generation', inputField: input, targetField: target, reason: `the records have a "${target}" field` };
  return null;
}

export interface MethodPreset {
  id: string;
  label: string;
  detail: string;
  method: Method;
  rank: number;
  /** A learning rate that worked for this method on the shipped example (see the README's sweep). */
  lr: number;
}

// Learning rates that worked on the example (the README's `ulpt sweep` with --pick lr, scaleInit "embedding"): its
// dev split chose 0.1 for r = 64 and 0.03 for vanilla; for r = 2 it chose 0.01 (0.1 with scale 1), but its dev means
// at 0.01, 0.03 and 0.1 are 91.5, 90.2 and 90.8 % (within noise), and 0.03 is the shipped config's (0.922). ULPT presets start the prompt at the
// embeddings' spread, which keeps every rank trainable (with the paper's scale 1, r = 64 stays near 62 % there).
export const METHOD_PRESETS: readonly MethodPreset[] = [
  { id: 'ulpt-2', label: 'ULPT, r = 2', detail: 'Recommended: 2 numbers per virtual token plus 2·d alignment values — an adapter of a few KB.', method: 'ulpt', rank: 2, lr: 0.03 },
  { id: 'ulpt-64', label: 'ULPT, r = 64', detail: 'More capacity: 64 numbers per virtual token, still far below vanilla prompt tuning.', method: 'ulpt', rank: 64, lr: 0.1 },
  { id: 'prompt-tuning', label: 'Vanilla prompt tuning', detail: 'The n × d prompt trained directly (the baseline ULPT compresses).', method: 'prompt-tuning', rank: 0, lr: 0.03 },
];

/** What the wizard does not ask: settings that worked on the shipped example (its ulpt.config.json) and in the experiment. */
export const WIZARD_DEFAULTS = { steps: 150, promptLength: 10, batchSize: 16, warmupSteps: 10, scaleInit: 'embedding' } as const;

/** A default run name: the dataset's stem without its split word, e.g. "sentiment" for sentiment-train.jsonl. */
export function defaultRunName(trainFile: string): string {
  const stem = path.basename(trainFile).replace(/\.[^.]+$/, '');
  return stem.replace(/[-_. ]?(train|training)$/i, '').replace(/^(train|training)[-_. ]?/i, '') || stem;
}

/**
 * A run name for a Hub dataset path: the dataset's name and the folders of the path that name a configuration
 * (hf://datasets/nyu-mll/glue/rte/train-….parquet → glue-rte; …/tiny/shards/data/train-*.parquet → shards).
 */
export function hubRunName(ref: string): string {
  const parsed = parseDatasetRef(ref);
  if (!parsed) return 'hub-data';
  const folders = parsed.pattern.split('/').slice(0, -1).filter((f) => !/[*?]/.test(f) && !['data', 'default'].includes(f));
  return [parsed.id.split('/')[1], ...folders].join('-');
}

/** The template the wizard proposes: a cue for the input and one for the answer, e.g. "input: {input} output:". */
export function defaultTemplate(inputField: string): string {
  return `input: {${inputField}} output:`;
}

/**
 * The verbalizer the model learns to write for a label word: it follows the filled template directly, so a word
 * after a template that does not end in whitespace gets a leading space (" positive", as tokenizers split words).
 */
export function verbalizer(word: string, template: string): string {
  const w = word.replace(/^\s+/, '');
  return /\s$/.test(template) || template === '' ? w : ` ${w}`;
}

/** The training config files among `files` whose `train` is `dataset` (relative paths from each file's folder). */
export function configsUsingDataset(files: readonly string[], dataset: string, read: (file: string) => string = (f) => fs.readFileSync(f, 'utf8')): { file: string; config: Record<string, unknown> }[] {
  const out: { file: string; config: Record<string, unknown> }[] = [];
  for (const file of files) {
    try {
      const config = JSON.parse(read(file)) as Record<string, unknown>;
      if (typeof config.train !== 'string') continue;
      // A Hub path (hf://datasets/…) is the same dataset when written the same.
      if (isHubDataRef(dataset) ? config.train === dataset : path.resolve(path.dirname(file), config.train) === path.resolve(dataset)) out.push({ file, config });
    } catch {
      /* not readable as JSON: the file's own problem, reported when it is trained */
    }
  }
  return out;
}

/** A training config file by name: ulpt.config.json or anything.ulpt.json. */
export function isConfigFileName(file: string): boolean {
  const base = path.basename(file).toLowerCase();
  return base === 'ulpt.config.json' || base.endsWith('.ulpt.json');
}
