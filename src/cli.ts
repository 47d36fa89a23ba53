#!/usr/bin/env node
// `ulpt`: the engine without VS Code. Every command prints for people by default and JSON with --json.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { BACKENDS, initBackend, isBackendName, type BackendName, type BackendReport } from './backend';
import { resolveConfig, ConfigError, defaultMaxLength, type Engine, type FieldNames, type TaskConfig, type TrainConfig } from './config';
import { readRecords, buildExamples, promptText, generatedAnswer } from './data';
import { DataWarnings } from './data/warnings';
import type { DataRecord } from './data/readers';
import { DatasetError } from './data/errors';
import { readAdapter, checkAdapterMatchesModel, describeAdapterFile, writeAdapter, type Adapter } from './io/adapter';
import { adapterFromPeft, exportPeft, peftBaseModelFolder, PeftOutError, readPeftPrompt, SEQ2SEQ_MODEL_TYPES } from './io/peft';
import { loadModel } from './models/loader';
import type { LanguageModel } from './models/types';
import { inputSpecials, wrapInput } from './models/tokenizer';
import type { EngineBackendReport, TrainerMessage } from './protocol';
import { startTorchRun, type TorchTrainOptions } from './engine/torchEngine';
import { editDistance } from './editDistance';
import { PythonEngineError } from './engine/python';
import { promptFromAdapter, type PromptModule } from './ulpt/prompt';
import { evaluate, classify, generate, labelSetFor } from './train/evaluate';
import { train, FitError, outPathProblem } from './train/trainer';
import { describeDiagnosis, diagnoseRun, notRunFolder, freshRunDir, RUNS_DIR, runFolderProblem, RunFolderError, DamagedRunError } from './train/runFolder';
import { sequenceLogits } from './train/objective';
import { adapterTask } from './train/predict';
import { downloadModel, resolveDataRef, resolveHubInputs, resolveModelRef, type DownloadProgress, type ResolveOptions } from './hub/resolve';
import { isHubDataRef, isHubModelRef } from './hub/refs';
import { gb } from './hub/download';
import { listModels, printModels } from './hub/models';
import { doctor, doctorText } from './engine/doctor';
import { exportJob, JobOutError } from './engine/exportJob';
import { filterRecords, findPreset, presetsJson, presetsText, unknownPresetMessage, type Preset } from './presets';
import { exportSweepCommand, sweepCommand, sweepResultsCommand } from './sweep/command';

const USAGE = `ulpt — Ultra-Low-dimensional Prompt Tuning

  ulpt train --model DIR --train FILE [options]       train a prompt; writes a run folder and an adapter
  ulpt train --config FILE [options]                  the same from a config file; flags given override it
  ulpt train --preset NAME --model DIR [options]      one of the paper's tasks: its Hub data, template, labels, metric
  ulpt presets [--json]                               the presets: dataset, task type, metric, split sizes
  ulpt train --resume RUN_DIR [--accept-changes] [--json]   continue a stopped or interrupted run from its checkpoint
                                                      (refused when its data, model or settings changed since)
  ulpt eval --model DIR --adapter FILE (--data FILE | --preset NAME) [--strict] [--json]
                                                      --preset: its evaluation split (and subset filter)
  ulpt predict --model DIR --adapter FILE (--input TEXT | --data FILE) [--truncate] [--json]
  ulpt inspect ADAPTER|RUN_DIR [--json]               what an adapter holds; what a run folder holds or lacks
  ulpt export-peft ADAPTER --out DIR [--base-model NAME_OR_PATH] [--task-type CAUSAL_LM|SEQ_2_SEQ_LM] [--force] [--json]
                                                      DIR: new, empty, or an earlier PEFT export (then replaced)
  ulpt import-peft PEFT_DIR --out FILE.ulpt [--model DIR] [--template T] [--input-field F] [--target-field F]
                   [--force] [--json]                 a PEFT prompt-tuning adapter as a .ulpt (vanilla prompt
                                                      tuning); --model defaults to its base_model_name_or_path
  ulpt forward --model DIR --ids 1,2,3 [--decoder-ids 0,5] [--adapter FILE] --json   logits at every position
  ulpt download ORG/NAME[@REVISION] [--json]          a Hub model into the Hugging Face cache; prints its snapshot
  ulpt download hf://datasets/ORG/NAME[@REVISION]/PATH [--json]   a Hub dataset file, or every file a glob names
                                                      (data/train-*.parquet: one dataset, read in path order)
  ulpt models [--python PATH] [--json]                the models here (the working folder, shallow) and in the cache
                                                      and whether each engine trains them here (one probe of Python)
  ulpt export-job [train's options] --out DIR [--force] [--json]   a folder to copy to a cluster: the job tokenized,
                                                      the PyTorch engine, launch.sh (torchrun) and a SLURM script
  ulpt export-job --config FILE --grid KEY=V1,V2 [sweep's options] --out DIR   a sweep as a SLURM job array
  ulpt doctor [--python PATH] [--json]                what can train here: backends, GPU, Python, torch, CUDA/MPS
  ulpt sweep --config FILE --grid KEY=V1,V2 [--grid …] [--seeds N|1,2,3] [--pick KEY [--dev-split F]]
             [--steps S] [--engine builtin|torch] [--out DIR] [--json];   ulpt sweep --results DIR
                                                      every grid combination × seed as a run folder, one at a
                                                      time (rerun to resume); results.md/.csv: mean ± std per arm

Models and data from the Hugging Face Hub: --model (and a config's model) takes ORG/NAME[@REVISION] where no such
folder exists, and every data file hf://datasets/ORG/NAME[@REVISION]/PATH; both are taken from the Hugging Face
cache (HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub) or downloaded into it (only config,
tokenizer and *.safetensors files; never pickle weights). HF_ENDPOINT, HF_TOKEN (or huggingface-cli login) and
HF_HUB_OFFLINE=1 (the cache only) are honoured. Download progress goes to stderr.

Training options (config file field in brackets):
  --preset NAME [preset]                  fills train, validation, filter and task; the options given override it
  --validation FILE [validation]          --validation-split F [validationSplit]   default 0
  --method ulpt|prompt-tuning [method]    --rank R [rank] 2        --prompt-length N [promptLength] 10
  --no-alignment [alignment: false]       --scale-init one|embedding [scaleInit]
  --steps S [steps] 200                   --lr LR [lr] 0.01        --batch-size B [batchSize] 8
  --grad-accumulation K [gradAccumulation] 1    --warmup-steps W [warmupSteps] 0
  --weight-decay X [weightDecay] 1e-5     --max-grad-norm X [maxGradNorm] 1
  --max-length L [maxLength]              tokens per example before the virtual tokens; default: what the
                                          model's context holds after them (at most 1024)
  --eval-every K [evalEvery] 50           --checkpoint-every K [checkpointEvery] 50
  --early-stopping P [earlyStoppingPatience] 0
  --task classification|generation [task.type]    --template T [task.template]
  --input-field F [task.inputField]       --target-field F [task.targetField]
  --metric M [task.metric]                accuracy|f1|matthews_correlation|multirc (classification),
                                          exact_match|squad|gsm8k|pearson|spearmanr (generation); picks the best adapter
  --seed K [seed] 42 (0 … 2^64−1)         --backend auto|tensorflow-gpu|webgpu|tensorflow|wasm|cpu [backend]
  --threads N|auto [threads] auto         threads per step on wasm/cpu (data-parallel; auto: one per core)
  --engine builtin|torch [engine]         torch: the PyTorch engine (Python with torch + transformers), same run folder
  --python PATH                           its interpreter (default: $ULPT_PYTHON, the repo's .venv, python3)
  --nproc N                               its processes on this machine (torchrun, data parallel), default 1
  --fsdp                                  shard the model's blocks over those processes (FSDP): a model too
                                          big for one device (needs --nproc 2 or more)
  --precision fp32|bf16|fp16              autocast on CUDA (the prompt and AdamW stay fp32), default fp32
  --gradient-checkpointing                recompute the model's layers in the backward pass (less memory)
  --out FILE.ulpt [out]                   default adapters/<train file>.ulpt; replaces only an adapter
  --run-dir DIR                           default .ulpt/runs/<time>_<name>-<id>; must be new or empty
  --strict [strict]                       data warnings are errors
  --force                                 let --out replace a file that is not an adapter; let export-peft
                                          write into a folder holding other files, or through a symlink
  --json                                  one JSON message per line (src/protocol.ts)

Exit status: 0 done; 1 the model, data or training failed; 2 the command line or configuration is wrong
(nothing was done); 130 stopped by Ctrl+C (a checkpoint is kept: ulpt train --resume RUN_DIR).`;

class UsageError extends Error {}

const OPTIONS = {
  model: { type: 'string' }, train: { type: 'string' }, validation: { type: 'string' }, config: { type: 'string' },
  method: { type: 'string' }, rank: { type: 'string' }, 'prompt-length': { type: 'string' }, steps: { type: 'string' },
  lr: { type: 'string' }, 'batch-size': { type: 'string' }, 'grad-accumulation': { type: 'string' }, 'warmup-steps': { type: 'string' },
  'weight-decay': { type: 'string' }, 'max-length': { type: 'string' }, 'eval-every': { type: 'string' }, 'checkpoint-every': { type: 'string' },
  'validation-split': { type: 'string' }, 'early-stopping': { type: 'string' }, 'no-alignment': { type: 'boolean' }, 'scale-init': { type: 'string' },
  'max-grad-norm': { type: 'string' }, strict: { type: 'boolean' }, force: { type: 'boolean' }, truncate: { type: 'boolean' },
  task: { type: 'string' }, template: { type: 'string' }, 'input-field': { type: 'string' }, 'target-field': { type: 'string' }, metric: { type: 'string' },
  grid: { type: 'string', multiple: true }, seeds: { type: 'string' }, results: { type: 'string' }, pick: { type: 'string' }, 'dev-split': { type: 'string' },
  preset: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, backend: { type: 'string' }, threads: { type: 'string' }, 'run-dir': { type: 'string' }, resume: { type: 'string' },
  fsdp: { type: 'boolean' }, precision: { type: 'string' }, 'gradient-checkpointing': { type: 'boolean' },
  json: { type: 'boolean' }, adapter: { type: 'string' }, data: { type: 'string' }, input: { type: 'string' }, ids: { type: 'string' },
  'base-model': { type: 'string' }, 'decoder-ids': { type: 'string' }, 'task-type': { type: 'string' }, 'accept-changes': { type: 'boolean' }, engine: { type: 'string' }, python: { type: 'string' }, nproc: { type: 'string' }, help: { type: 'boolean', short: 'h' },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function num(flags: Flags, key: keyof Flags, integer = true): number | undefined {
  const v = flags[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${key} must be ${integer ? 'a whole number' : 'a number'} (got ${JSON.stringify(v)}).`);
  }
  return n;
}

function required(flags: Flags, key: keyof Flags): string {
  const v = flags[key];
  if (typeof v !== 'string' || !v) throw new UsageError(`--${key} is required.`);
  return v;
}

/** The flag that sets each config field (for messages in the user's own words). */
const FLAG_OF: Record<string, string> = {
  model: 'model', preset: 'preset', train: 'train', validation: 'validation', out: 'out', method: 'method', rank: 'rank', promptLength: 'prompt-length',
  steps: 'steps', lr: 'lr', batchSize: 'batch-size', gradAccumulation: 'grad-accumulation', warmupSteps: 'warmup-steps',
  weightDecay: 'weight-decay', maxGradNorm: 'max-grad-norm', maxLength: 'max-length', evalEvery: 'eval-every', checkpointEvery: 'checkpoint-every',
  validationSplit: 'validation-split', earlyStoppingPatience: 'early-stopping', seed: 'seed', backend: 'backend', alignment: 'no-alignment',
  scaleInit: 'scale-init', strict: 'strict', engine: 'engine', 'task.type': 'task', 'task.template': 'template', 'task.inputField': 'input-field', 'task.targetField': 'target-field',
  'task.metric': 'metric',
};

/** A config from flags (and --config FILE), with the way the user wrote each field for messages. */
export function configFromFlags(flags: Flags): { config: TrainConfig; names: FieldNames } {
  let raw: Record<string, unknown> = {};
  let baseDir = process.cwd();
  let source = 'the command line';
  if (flags.config) {
    const file = path.resolve(flags.config);
    if (!fs.existsSync(file)) throw new UsageError(`--config ${flags.config}: no such file (looked for ${file}).`);
    let text: string;
    try {
      // A byte-order mark (Windows editors write one) is not part of the JSON, as in data files.
      text = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`The config file ${file} cannot be read: ${(e as Error).message}`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`The config file ${file} must hold one JSON object ({ "model": …, "train": … }).`);
    checkConfigShapes(raw, file, text);
    baseDir = path.dirname(file);
    source = flags.config;
  }
  // Hub references (org/name, hf://datasets/…) stay as written: resolveHubInputs takes them to the cache.
  const cwd = (p: string | undefined) => (p === undefined ? undefined : isHubDataRef(p) ? p : path.resolve(p));
  const over: Record<string, unknown> = {
    model: flags.model !== undefined && isHubModelRef(flags.model) ? flags.model : cwd(flags.model), preset: flags.preset, train: cwd(flags.train), validation: cwd(flags.validation), out: cwd(flags.out),
    method: flags.method, rank: num(flags, 'rank'), promptLength: num(flags, 'prompt-length'), steps: num(flags, 'steps'),
    lr: num(flags, 'lr', false), batchSize: num(flags, 'batch-size'), gradAccumulation: num(flags, 'grad-accumulation'),
    warmupSteps: num(flags, 'warmup-steps'), weightDecay: num(flags, 'weight-decay', false), maxGradNorm: num(flags, 'max-grad-norm', false),
    maxLength: num(flags, 'max-length'), evalEvery: num(flags, 'eval-every'), checkpointEvery: num(flags, 'checkpoint-every'),
    validationSplit: num(flags, 'validation-split', false), earlyStoppingPatience: num(flags, 'early-stopping'), seed: flags.seed, backend: flags.backend, engine: flags.engine,
    threads: flags.threads === undefined || flags.threads === 'auto' ? flags.threads : num(flags, 'threads'),
    alignment: flags['no-alignment'] ? false : undefined, scaleInit: flags['scale-init'], strict: flags.strict ? true : undefined,
  };
  const fromFlags = new Set<string>();
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    raw[k] = v;
    fromFlags.add(k);
  }
  const task = { ...((raw.task as Record<string, unknown>) ?? {}) };
  const taskFlags: [string, string | undefined][] = [['type', flags.task], ['template', flags.template], ['inputField', flags['input-field']], ['targetField', flags['target-field']], ['metric', flags.metric]];
  for (const [k, v] of taskFlags) {
    if (v === undefined) continue;
    task[k] = v;
    fromFlags.add(`task.${k}`);
  }
  if (Object.keys(task).length) raw.task = task;
  const names: FieldNames = (field) => (fromFlags.has(field) && FLAG_OF[field] ? `--${FLAG_OF[field]}` : field);
  if (raw.model === undefined && !flags.config) throw new UsageError('--model is required (a Hugging Face model folder or Hub id ORG/NAME), or --config FILE.');
  if (raw.train === undefined && raw.preset === undefined && !flags.config) throw new UsageError('--train is required (the training data file), or --preset NAME (ulpt presets lists them), or --config FILE.');
  const config = resolveConfig(raw, baseDir, source, names);
  refuseContradictions(config, raw, names);
  return { config, names };
}

/**
 * What JSON itself would garble before the schema sees it: `task` that is not an object (spread into one setting
 * per character), and a seed above 2^53 written as a number (JSON numbers lose its last digits).
 */
function checkConfigShapes(raw: Record<string, unknown>, file: string, text: string): void {
  const task = raw.task;
  if (task !== undefined && (typeof task !== 'object' || task === null || Array.isArray(task))) {
    throw new ConfigError(`${file}: task must be an object such as {"type": "classification", "template": "{input}"} (got ${JSON.stringify(task)}).`);
  }
  if (typeof raw.seed === 'number' && Number.isFinite(raw.seed) && Math.abs(raw.seed) > Number.MAX_SAFE_INTEGER) {
    const written = /"seed"\s*:\s*([-+0-9.eE]+)/.exec(text)?.[1] ?? String(raw.seed);
    throw new ConfigError(`${file}: seed ${written} is above 2^53, where a JSON number loses digits (it reads as ${BigInt(Math.trunc(raw.seed))}). Write it in quotes: "seed": "${written}".`);
  }
}

/**
 * Settings that contradict each other or would do nothing, refused before any work: the user meant something
 * else, and silently ignoring one of them would train what they did not ask for.
 */
function refuseContradictions(config: TrainConfig, raw: Record<string, unknown>, names: FieldNames): void {
  if (config.validation && config.validationSplit > 0) {
    throw new ConfigError(`${names('validation')} and ${names('validationSplit')} both choose the validation data; give one of them.`);
  }
  if (config.method === 'prompt-tuning') {
    // Flags only: a config file (a run's config.json reused) may carry every setting, ULPT's included.
    const ulptOnly = ['rank', 'alignment', 'scaleInit'].filter((k) => raw[k] !== undefined && names(k).startsWith('--'));
    if (ulptOnly.length) throw new ConfigError(`${ulptOnly.map(names).join(', ')} ${ulptOnly.length > 1 ? 'apply' : 'applies'} to ULPT only; with ${names('method')} prompt-tuning ${ulptOnly.length > 1 ? 'they do' : 'it does'} nothing. Leave ${ulptOnly.length > 1 ? 'them' : 'it'} out.`);
  }
  if (config.earlyStoppingPatience > 0 && !config.validation && !(config.validationSplit > 0)) {
    throw new ConfigError(`${names('earlyStoppingPatience')} stops on the validation metric, but there is no validation data: give --validation FILE or --validation-split F.`);
  }
  // A warm-up as long as the run is a warning, not a refusal: `--config … --steps 5` is how people try a config.
  if (config.warmupSteps > 0 && config.warmupSteps >= config.steps) {
    const reached = (config.lr * config.steps) / config.warmupSteps;
    console.error(`ulpt: warning: ${names('warmupSteps')} ${config.warmupSteps} is not shorter than the run (${names('steps')} ${config.steps}): the learning rate rises to ${reached.toPrecision(2)} at the last step and never reaches ${names('lr')} ${config.lr}. Give fewer warm-up steps to train at that rate.`);
  }
}

/** `.ulpt/runs/<time>_<name>-<id>` in the workspace (the config file's folder, else the working directory): new and unique. */
function defaultRunDir(config: TrainConfig, base: string): string {
  return freshRunDir(path.resolve(base, RUNS_DIR), path.basename(config.out).replace(/\.ulpt$/, ''));
}

function backendLine(b: BackendReport | EngineBackendReport): string {
  const skipped = b.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  return `backend ${b.name} — ${b.device}${skipped ? ` (skipped ${skipped})` : ''}`;
}

function fmtTime(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Human progress: a redrawn bar on a terminal, one line per eval/checkpoint/10% otherwise. */
function printer(json: boolean): (m: TrainerMessage) => void {
  if (json) return (m) => process.stdout.write(JSON.stringify(m) + '\n');
  const tty = process.stderr.isTTY;
  let lastPct = -1;
  // Not a terminal (a log, CI): a line at the first step, each 10 %, and at least every 30 s (ULPT_PROGRESS_SECONDS).
  const every = 1000 * (Number(process.env.ULPT_PROGRESS_SECONDS) > 0 ? Number(process.env.ULPT_PROGRESS_SECONDS) : 30);
  let lastLine = 0;
  return (m) => {
    switch (m.type) {
      case 'started':
        console.error(`ulpt: training ${m.config.method}${m.config.method === 'ulpt' ? ` r=${m.config.rank}` : ''} n=${m.config.promptLength} on ${m.model.name} (${m.model.modelType}, d=${m.model.hiddenSize})`);
        console.error(`  ${m.trainableParameters} trainable parameters (vanilla prompt tuning: ${m.vanillaParameters}); ${m.examples.train} train / ${m.examples.validation} validation examples`);
        console.error(`  ${backendLine(m.backend)}`);
        console.error(`  run folder ${m.runDir}${m.startStep ? ` (resuming at step ${m.startStep})` : ''}`);
        break;
      case 'step': {
        const pct = Math.floor((100 * m.step) / m.totalSteps);
        const text = `step ${m.step}/${m.totalSteps} loss ${m.loss.toFixed(4)} lr ${m.lr.toExponential(2)} ${Math.round(m.tokensPerSecond)} tok/s ETA ${fmtTime(m.etaMs)}`;
        if (tty) {
          const width = 24;
          const filled = Math.round((width * m.step) / m.totalSteps);
          process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
        } else if (pct >= lastPct + 10 || m.step === m.totalSteps || Date.now() - lastLine >= every) {
          lastPct = Math.max(lastPct, pct - (pct % 10));
          lastLine = Date.now();
          console.error(`  ${text}`);
        }
        break;
      }
      case 'eval': {
        const metrics = Object.entries(m.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ');
        console.error(`${tty ? '\r\x1b[K' : ''}  eval @ step ${m.step}: loss ${m.loss.toFixed(4)} ${metrics}${m.best ? ' (best)' : ''}`);
        break;
      }
      case 'baseline': {
        const metrics = Object.entries(m.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ');
        console.error(`  un-prompted model: loss ${m.loss.toFixed(4)} ${metrics}`);
        break;
      }
      case 'log':
        console.error(`${tty ? '\r\x1b[K' : ''}  ${m.level === 'warn' ? 'warning: ' : ''}${m.message}`);
        break;
      case 'finished': {
        const s = m.summary;
        if (tty) process.stderr.write('\n');
        console.log(`ulpt: ${s.reason} after ${s.steps} steps in ${s.seconds.toFixed(1)} s on ${s.backend} — ${s.device}`);
        if (s.final) console.log(`  final training loss ${s.final.loss.toFixed(4)}`);
        if (s.warnings) console.log(`  ${s.warnings} data warning${s.warnings > 1 ? 's' : ''} (listed above; --strict makes them errors)`);
        if (s.baseline) console.log(`  un-prompted model: ${Object.entries(s.baseline.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}, loss ${s.baseline.loss.toFixed(4)}`);
        if (s.best) console.log(`  best eval (step ${s.bestStep}): ${Object.entries(s.best).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`);
        console.log(s.adapter ? `  adapter ${s.adapter} (${fs.statSync(s.adapter).size} bytes, ${s.trainableParameters} parameters)` : `  resume with: ulpt train --resume ${s.runDir}`);
        break;
      }
      case 'checkpoint':
      case 'adapter':
      case 'error':
        break;
      default: {
        const never: never = m;
        void never;
      }
    }
  };
}

/** The stored config of a run to resume, after checking every file the resume needs (a diagnosis when one is damaged). */
function resumeConfig(runDir: string): TrainConfig {
  if (!fs.existsSync(runDir)) throw new UsageError(`--resume ${runDir}: no such folder.`);
  const notRun = notRunFolder(runDir);
  if (notRun) throw new UsageError(`--resume: ${notRun}`);
  const diagnosis = diagnoseRun(runDir);
  if (!diagnosis.resumable || !diagnosis.config) throw new DamagedRunError(`This run cannot be resumed. ${describeDiagnosis(diagnosis)}`);
  return diagnosis.config;
}

/** The flags only the PyTorch engine reads (train --engine torch, and --resume of its runs). */
const TORCH_FLAGS = ['python', 'nproc', 'fsdp', 'precision', 'gradient-checkpointing'] as const;

/** --precision, checked: train --engine torch runs with it, export-job makes it launch.sh's default. */
function precisionFlag(flags: Flags): TorchTrainOptions['precision'] {
  const precision = flags.precision as TorchTrainOptions['precision'];
  if (precision !== undefined && !['fp32', 'bf16', 'fp16'].includes(precision)) throw new UsageError(`--precision must be fp32, bf16 or fp16 (got ${JSON.stringify(precision)}).`);
  return precision;
}

/** `train --engine torch`: src/engine/torchEngine.ts checks, prepares and starts it; its messages print as the built-in trainer's. */
async function cmdTrainTorch(config: TrainConfig, runDir: string, resume: boolean, names: FieldNames | undefined, flags: Flags): Promise<void> {
  const run = await startTorchRun(config, { runDir, resume, python: flags.python, nproc: num(flags, 'nproc') ?? 1, owner: 'ulpt train',
    shard: flags.fsdp ? 'fsdp' : undefined, precision: precisionFlag(flags), gradientCheckpointing: !!flags['gradient-checkpointing'], force: !!flags.force, fieldNames: names, acceptChanges: !!flags['accept-changes'], onMessage: printer(!!flags.json) });
  let stopping = false;
  const onSignal = () => {
    if (stopping) {
      run.kill();
      process.exit(130);
    }
    stopping = true;
    run.stop();
    console.error('\nulpt: stopping after this step (Ctrl+C again to abort)…');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.exitCode = (await run.result).code;
}

async function cmdTrain(flags: Flags): Promise<void> {
  let config: TrainConfig;
  let runDir: string;
  let names: FieldNames | undefined;
  const resume = !!flags.resume;
  if (flags.resume) {
    const others = Object.keys(flags).filter((k) => !([...TORCH_FLAGS, 'resume', 'json', 'backend', 'engine', 'accept-changes'] as string[]).includes(k));
    if (others.length) throw new UsageError(`--resume continues a run with its own settings; it cannot be combined with --${others[0]}.`);
    runDir = path.resolve(flags.resume);
    config = resumeConfig(runDir);
    if (flags.backend) config = { ...config, backend: flags.backend as BackendName };
    // Either engine resumes the other's checkpoint: --engine says which continues (default: the one the run names).
    if (flags.engine) config = { ...config, engine: flags.engine as Engine };
  } else {
    ({ config, names } = configFromFlags(flags));
    if (flags['run-dir']) {
      runDir = path.resolve(flags['run-dir']);
      const problem = runFolderProblem(runDir);
      if (problem) throw new RunFolderError(`--run-dir: ${problem}`);
    } else {
      runDir = defaultRunDir(config, flags.config ? path.dirname(path.resolve(flags.config)) : process.cwd());
    }
  }
  // Hub models and data become cache paths here, once, before any work (a resume fetches a removed snapshot again).
  config = await resolveHubInputs(config, hubOptions(!!flags.json));
  // --out replaces an existing adapter (the documented rule); say which one, before and after.
  const replacing = resume ? null : describeAdapterFile(config.out);
  if (replacing && !flags.json) console.error(`ulpt: ${config.out} holds an adapter (${replacing}); this run replaces it when it finishes (give another --out to keep it).`);
  if ((config.engine ?? 'builtin') === 'torch') return cmdTrainTorch(config, runDir, resume, names, flags);
  const torchOnly = TORCH_FLAGS.find((k) => flags[k] !== undefined);
  if (torchOnly) throw new UsageError(`--${torchOnly} is for the PyTorch engine: add --engine torch.`);
  const backend = await initBackend(config.backend);
  let stop = false;
  const onSignal = () => {
    if (stop) process.exit(130);
    stop = true;
    console.error('\nulpt: stopping after this step (Ctrl+C again to abort)…');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const summary = await train(config, { runDir, backend, resume, owner: 'ulpt train', force: !!flags.force, fieldNames: names, acceptChanges: !!flags['accept-changes'], shouldStop: () => stop, onMessage: printer(!!flags.json) });
  if (summary.reason === 'stopped') process.exitCode = 130;
  if (replacing && summary.adapter && !flags.json) console.log(`  replaced the adapter that was there (${replacing})`);
}

async function loadAdapted(flags: Flags): Promise<{ model: LanguageModel; adapter: Adapter | null; prompt: PromptModule | null }> {
  await initBackend((flags.backend as BackendName) ?? 'auto');
  const model = await loadModel((await resolveModelRef(required(flags, 'model'), hubOptions(!!flags.json))).dir);
  for (const w of model.warnings) console.error(`ulpt: warning: ${w}`);
  if (!flags.adapter) return { model, adapter: null, prompt: null };
  const file = path.resolve(flags.adapter);
  const adapter = readAdapter(file);
  checkAdapterMatchesModel(adapter.meta, model.info, file);
  return { model, adapter, prompt: await promptFromAdapter(adapter, model.tokenEmbeddings) };
}

/** Data warnings on stderr; with --strict they are an error. */
function reportDataWarnings(warnings: DataWarnings, strict: boolean): void {
  const list = warnings.list();
  if (strict && list.length) throw new DatasetError('the data', `strict mode refuses ${list.length} data warning${list.length > 1 ? 's' : ''}:\n  ${list.map((w) => w.message).join('\n  ')}`);
  for (const w of list) console.error(`ulpt: warning: ${w.message}`);
}

/** eval's --preset: the preset named, refused with the known names when there is none of that name. */
function evalPreset(flags: Flags): Preset | undefined {
  if (flags.preset === undefined) return undefined;
  const preset = findPreset(flags.preset);
  if (!preset) throw new UsageError(`--preset: ${unknownPresetMessage(flags.preset)}`);
  return preset;
}

async function cmdEval(flags: Flags): Promise<void> {
  const { model, adapter, prompt } = await loadAdapted(flags);
  if (!adapter) throw new UsageError('--adapter is required.');
  const task = adapterTask(adapter.meta);
  const warnings = new DataWarnings();
  // --preset without --data: the preset's evaluation split, with its subset filter (MRQA).
  const preset = evalPreset(flags);
  const spec = flags.data ?? preset?.validation ?? required(flags, 'data');
  const records = filterRecords(await readRecords(await dataFile(spec, !!flags.json), { warnings }), flags.data ? undefined : preset?.filter, spec);
  // The adapter's own token budget when it fits this model, else what the context holds after the virtual tokens.
  const n = adapter.meta.num_virtual_tokens;
  const trained = adapter.meta.training.maxLength;
  const fallback = defaultMaxLength(model.info.maxPositions, n);
  const maxLength = typeof trained === 'number' && trained >= 2 && trained <= model.info.maxPositions - n ? trained : fallback;
  if (fallback < 2) throw new FitError(`The adapter's ${n} virtual tokens fill ${model.info.name}'s ${model.info.maxPositions} positions: no room for any input.`);
  const labels = adapter.meta.task.labels;
  const examples = buildExamples(records, task, model.tokenizer, maxLength, labels, warnings, { seq2seq: model.kind === 'encoder-decoder' });
  reportDataWarnings(warnings, !!flags.strict);
  const res = await evaluate(model, prompt, examples, task, labelSetFor(labels, model.tokenizer), 16);
  const out = { examples: examples.length, loss: res.loss, ...res.metrics, warnings: warnings.list().length };
  console.log(flags.json ? JSON.stringify(out) : Object.entries(out).map(([k, v]) => `${k}: ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : v}`).join('\n'));
}

/**
 * Prompt token ids for prediction. An input that does not fit beside the virtual tokens and the answer is refused
 * with the numbers (never answered from a silently cut input); --truncate keeps its end instead, with a warning.
 */
function predictionInputs(records: DataRecord[], task: TaskConfig, model: LanguageModel, room: number, why: string, truncate: boolean, warnings: DataWarnings): number[][] {
  // The tokenizer's own special tokens (Llama's BOS, T5's </s>) take part of the room.
  const specials = inputSpecials(model.tokenizer);
  const text = room - specials;
  return records.map((record) => {
    const ids = model.tokenizer.encode(promptText(record, task));
    if (ids.length <= text) return wrapInput(model.tokenizer, ids);
    if (!truncate) {
      const note = specials ? ` (${specials} of them for the tokenizer's special tokens)` : '';
      throw new DatasetError(record.where, `the input is ${ids.length} tokens, but ${why} leave room for ${room}${note}. Shorten it, or pass --truncate to keep its last ${text} tokens.`);
    }
    warnings.add('input-cut', record.where.file, record.where.label, `${ids.length} → ${text} tokens`);
    return wrapInput(model.tokenizer, ids.slice(ids.length - text));
  });
}

async function cmdPredict(flags: Flags): Promise<void> {
  const { model, adapter, prompt } = await loadAdapted(flags);
  if (!adapter) throw new UsageError('--adapter is required.');
  const task = adapterTask(adapter.meta);
  const warnings = new DataWarnings();
  if (flags.input !== undefined && flags.data !== undefined) throw new UsageError('predict takes --input TEXT or --data FILE, not both.');
  const records: DataRecord[] = flags.input !== undefined
    ? [{ where: { file: '--input', label: '' }, fields: { [task.inputField]: flags.input } }]
    : await readRecords(await dataFile(required(flags, 'data'), !!flags.json), { warnings });
  // Room after the virtual tokens for the input plus the answer: the longest label word, or up to 64 generated tokens.
  // An encoder-decoder model answers in its decoder, so its encoder input has the whole room.
  const n = adapter.meta.num_virtual_tokens;
  const P = model.info.maxPositions;
  const labels = labelSetFor(adapter.meta.task.labels, model.tokenizer);
  const context = P - n;
  const reserve = labels ? Math.max(...labels.tokens.map((t) => t.length)) : Math.min(64, Math.max(1, Math.floor(context / 4)));
  const seq2seq = model.kind === 'encoder-decoder';
  const room = seq2seq ? context : context - reserve;
  const why = seq2seq
    ? `${model.info.name} takes ${P} input positions and the adapter's ${n} virtual tokens`
    : `${model.info.name} holds ${P} positions, and the adapter's ${n} virtual tokens and the ${reserve} token${reserve > 1 ? 's' : ''} kept for the answer`;
  if (room - inputSpecials(model.tokenizer) < 1) throw new FitError(`${why} leave no room for an input: this adapter cannot be used with this model.`);
  const inputs = predictionInputs(records, task, model, room, why, !!flags.truncate, warnings);
  reportDataWarnings(warnings, !!flags.strict);
  const preds = labels
    ? (await classify(model, prompt, inputs, labels, 16)).map((i) => labels.names[i])
    : (await generate(model, prompt, inputs, reserve, 16)).map((ids, i) => generatedAnswer(records[i], task, model.tokenizer.decode(ids), seq2seq));
  for (const p of preds) console.log(flags.json ? JSON.stringify({ prediction: p }) : p);
}

/** A run folder: each file's state, and what can still be used when something is damaged. */
function cmdInspectRun(dir: string, json: boolean): void {
  const notRun = notRunFolder(dir);
  if (notRun) throw new UsageError(`inspect: ${notRun} inspect takes an adapter file or a run folder.`);
  const d = diagnoseRun(dir);
  if (json) {
    console.log(JSON.stringify(d, null, 2));
    return;
  }
  console.log(`${dir}: run folder${d.config ? ` (${d.config.method}${d.config.method === 'ulpt' ? ` r=${d.config.rank}` : ''}, ${d.config.steps} steps)` : ''}`);
  for (const f of d.files) console.log(`  ${f.file.padEnd(24)} ${f.state.padEnd(8)} ${f.detail}`);
  if (d.owner.state !== 'none') console.log(`  ${'lock.json'.padEnd(24)} ${d.owner.state.padEnd(8)} ${d.owner.detail}`);
  if (d.tempFiles.length) console.log(`  temp files left by an interrupted write (removed on resume): ${d.tempFiles.join(', ')}`);
  if (d.owner.state === 'alive') console.log(`  being trained now${d.checkpointStep !== null ? ` (checkpoint of step ${d.checkpointStep})` : ''}`);
  else console.log(d.resumable ? `  resumable from step ${d.checkpointStep}: ulpt train --resume ${dir}` : '  not resumable');
  if (d.files.some((f) => f.state === 'damaged')) console.log(d.usable.length ? `  still usable:\n${d.usable.map((u) => `    ${u}`).join('\n')}` : '  nothing in it can be used');
}

function cmdInspect(file: string, json: boolean): void {
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) return cmdInspectRun(path.resolve(file), json);
  const adapter = readAdapter(path.resolve(file));
  const m = adapter.meta;
  if (json) {
    const shapes = Object.fromEntries(Object.entries(adapter.tensors).filter(([, v]) => v).map(([k, v]) => [k, (v as Float32Array).length]));
    console.log(JSON.stringify({ ...m, tensor_sizes: shapes, file_bytes: fs.statSync(file).size }, null, 2));
    return;
  }
  console.log(`${file}: ${m.method === 'ulpt' ? `ULPT r=${m.rank}${m.alignment ? '' : ' (no scale/shift)'}` : 'prompt tuning'}, ${m.num_virtual_tokens} virtual tokens, d=${m.hidden_size}`);
  console.log(`  base model: ${m.base_model.name} (${m.base_model.model_type}, ${m.base_model.fingerprint})`);
  console.log(`  trainable parameters: ${m.trainable_parameters} (file ${fs.statSync(file).size} bytes), seed ${m.seed}`);
  console.log(`  task: ${m.task.type}, template ${JSON.stringify(m.task.template)}${m.task.labels ? `, labels ${m.task.labels.names.map((n, i) => `${n}→${JSON.stringify(m.task.labels!.words[i])}`).join(', ')}` : ''}`);
  console.log(`  metrics: ${Object.entries(m.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ') || 'none'}`);
  const origin = m.training.imported_from === 'peft' ? `imported from the PEFT adapter ${String(m.training.peft_adapter)}` : `${String(m.training.steps_done)} steps on ${String(m.training.backend)}`;
  console.log(`  created ${m.created}, ${origin}`);
}

function tokenIds(flags: Flags, key: 'ids' | 'decoder-ids', vocab: number): number[] {
  const items = required(flags, key).split(',').map((s) => s.trim());
  const bad = items.find((s) => !/^\d+$/.test(s) || Number(s) >= vocab);
  if (bad !== undefined) {
    const what = bad === '' ? 'has an empty item (two commas in a row, or one at an end)' : `has "${bad}", which is not a token id`;
    throw new UsageError(`--${key} ${what}; it must be token ids in [0, ${vocab}) written in decimal, separated by commas.`);
  }
  return items.map(Number);
}

async function cmdForward(flags: Flags): Promise<void> {
  const { model, prompt } = await loadAdapted(flags);
  const ids = tokenIds(flags, 'ids', model.info.vocabSize);
  if (flags['decoder-ids'] !== undefined && model.kind !== 'encoder-decoder') throw new UsageError(`--decoder-ids is for encoder-decoder models; ${model.info.name} (${model.info.modelType}) is decoder-only.`);
  // An encoder-decoder model: --ids is the encoder input, the logits are the decoder's (default: the start token alone).
  const decoderIds = model.kind === 'encoder-decoder' ? (flags['decoder-ids'] !== undefined ? tokenIds(flags, 'decoder-ids', model.info.vocabSize) : [model.decoderStartId]) : undefined;
  const logits = sequenceLogits(model, prompt, ids, decoderIds);
  const rows = (await logits.array()) as number[][];
  logits.dispose();
  const out = { model: model.info.name, ids, ...(decoderIds ? { decoder_ids: decoderIds } : {}), virtual_tokens: prompt?.length ?? 0, shape: [rows.length, model.info.vocabSize], logits: rows };
  if (flags.json) console.log(JSON.stringify(out));
  else rows.forEach((r, i) => console.log(`position ${i}: argmax ${r.indexOf(Math.max(...r))}, logits[0..4] ${r.slice(0, 5).map((x) => x.toFixed(4)).join(' ')}`));
}

/**
 * A PEFT prompt-tuning folder → a `.ulpt` of method prompt-tuning. The base model is loaded to record what the
 * adapter is for (type, name, fingerprint), so predict, eval and the inspector accept it for that model only.
 */
async function cmdImportPeft(dir: string, flags: Flags): Promise<void> {
  const out = path.resolve(required(flags, 'out'));
  const problem = outPathProblem(out, !!flags.force, (f) => (f === 'out' ? '--out' : f));
  if (problem) throw new UsageError(problem);
  if (flags.task !== undefined && flags.task !== 'generation') {
    throw new UsageError(`--task ${flags.task}: a PEFT adapter records no label words, so import-peft makes a generation adapter (leave --task out).`);
  }
  const peft = readPeftPrompt(dir);
  const base = peft.config.base_model_name_or_path;
  const named = flags.model ?? (typeof base === 'string' && isHubModelRef(base) ? base : undefined);
  const modelDir = named ? (await resolveModelRef(named, hubOptions(!!flags.json))).dir : peftBaseModelFolder(peft.config);
  if (!modelDir) {
    throw new UsageError(`${path.join(dir, 'adapter_config.json')} names the base model ${JSON.stringify(peft.config.base_model_name_or_path ?? null)}, which is not a model folder here: pass --model DIR (the Hugging Face model folder the prompt was trained for).`);
  }
  await initBackend((flags.backend as BackendName) ?? 'auto');
  const model = await loadModel(modelDir);
  const task = { template: flags.template, input_field: flags['input-field'], target_field: flags['target-field'] };
  const adapter = adapterFromPeft(peft, { model: model.info, modelDir, task: Object.fromEntries(Object.entries(task).filter(([, v]) => v !== undefined)) });
  writeAdapter(out, adapter);
  const res = { adapter: out, model: modelDir, num_virtual_tokens: adapter.meta.num_virtual_tokens, hidden_size: adapter.meta.hidden_size, bytes: fs.statSync(out).size };
  console.log(flags.json ? JSON.stringify(res) : `wrote ${out} (prompt tuning, ${res.num_virtual_tokens} virtual tokens × ${res.hidden_size}, ${res.bytes} bytes) for ${model.info.name}`);
}

/** Hub download progress on stderr: a redrawn line on a terminal, else a line per file and each 10 %. */
function hubOptions(json: boolean): ResolveOptions {
  const tty = process.stderr.isTTY && !json;
  let lastPct = -10;
  let drawn = false;
  const onProgress = (p: DownloadProgress) => {
    const pct = p.totalBytes ? Math.floor((100 * p.bytes) / p.totalBytes) : 100;
    const eta = p.etaMs === null ? '' : ` ETA ${fmtTime(p.etaMs)}`;
    const text = `downloading ${p.repo}: ${gb(p.bytes)} / ${gb(p.totalBytes)} (${pct} %) ${gb(p.bytesPerSecond)}/s${eta} — ${p.file}`;
    const fileEnd = p.fileBytes === p.fileSize;
    if (tty) {
      process.stderr.write(`\r${text}\x1b[K`);
      drawn = true;
      if (fileEnd && p.filesDone === p.totalFiles) {
        process.stderr.write('\n');
        drawn = false;
      }
    } else if (pct >= lastPct + 10 || fileEnd) {
      lastPct = Math.max(lastPct, pct - (pct % 10));
      console.error(`ulpt: ${text}${fileEnd ? ' (done)' : ''}`);
    }
  };
  return { onProgress, onNote: (m) => console.error(`${drawn ? '\n' : ''}ulpt: ${m}`) };
}

/** A data file argument: a path, or a Hub dataset file (hf://datasets/…) taken from the cache or downloaded. */
async function dataFile(value: string, json: boolean): Promise<string> {
  return isHubDataRef(value) ? (await resolveDataRef(value, hubOptions(json))).file : path.resolve(value);
}

/** `ulpt download`: a model's snapshot (or a dataset file) in the cache, and the commit it is. */
async function cmdDownload(ref: string, json: boolean): Promise<void> {
  const options = hubOptions(json);
  if (isHubDataRef(ref)) {
    const got = await resolveDataRef(ref, options);
    const several = got.files.length > 1 ? ` (${got.files.length} files, read in this order: ${got.hub.files!.join(', ')})` : '';
    console.log(json ? JSON.stringify({ file: got.file, files: got.files, repo: got.hub.repo, revision: got.hub.revision, commit: got.hub.commit, path: got.hub.path }) : `${got.file}\n  ${got.hub.repo} ${got.hub.path}${several} at commit ${got.hub.commit}`);
    return;
  }
  if (fs.existsSync(ref)) throw new UsageError(`download: ${ref} is a folder here, not a Hub id (ORG/NAME[@REVISION]).`);
  const snap = await downloadModel(ref, options);
  if (json) console.log(JSON.stringify(snap));
  else console.log(`${snap.dir}\n  ${snap.repo}@${snap.revision} = commit ${snap.commit}; ${snap.files.length} files${snap.received ? `, ${gb(snap.received)} downloaded` : ', all from the cache'}`);
}

/** The command line parsed, with the parser's complaints said in ulpt's words (exit 2). */
function parseCommandLine(argv: string[]) {
  for (const arg of argv) {
    if (arg === '--') break;
    const single = /^-([a-z][a-z-]+)(=.*)?$/.exec(arg);
    if (single && single[1] in OPTIONS) throw new UsageError(`${arg}: options take two dashes (--${single[1]}).`);
  }
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(flagProblem(e as Error));
  }
}

function flagProblem(e: Error): string {
  const unknown = /^Unknown option '([^']+)'/.exec(e.message);
  if (unknown) {
    const near = closestOption(unknown[1].replace(/^-+/, ''));
    return `${unknown[1]} is not an option of ulpt${near ? `; did you mean --${near}?` : '.'}`;
  }
  const flag = /^Option '(?:-\w, )?(--[\w-]+)/.exec(e.message)?.[1];
  if (flag && / argument missing/.test(e.message)) return `${flag} needs a value.`;
  if (flag && /is ambiguous/.test(e.message)) return `${flag} needs a value, but an option follows it (a value that starts with a dash is written ${flag}=-…).`;
  if (flag && /does not take an argument/.test(e.message)) return `${flag} is a switch and takes no value.`;
  return e.message;
}

/** The option nearest to a mistyped one (at most two edits apart, or one it starts), for "did you mean". */
function closestOption(name: string): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const option of Object.keys(OPTIONS)) {
    const d = option.startsWith(name) && name.length >= 3 ? 1 : editDistance(name, option);
    if (d < bestDistance) [best, bestDistance] = [option, d];
  }
  return best;
}

/** How many arguments each command takes after its name; more is a mistake (a value without its flag). */
const POSITIONALS: Record<string, number> = { presets: 0, train: 0, eval: 0, predict: 0, forward: 0, inspect: 1, 'export-peft': 1, 'import-peft': 1, download: 1, models: 0, 'export-job': 0, doctor: 0, sweep: 0 };

async function main(argv: string[]): Promise<void> {
  const { values: flags, positionals } = parseCommandLine(argv);
  const [command, ...rest] = positionals;
  if (command in POSITIONALS && rest.length > POSITIONALS[command]) {
    const extra = rest[POSITIONALS[command]];
    throw new UsageError(`ulpt ${command}: unexpected argument "${extra}" (a value needs its flag, e.g. --data ${extra}).`);
  }
  if (flags.help || !command) {
    console.log(USAGE);
    return;
  }
  if (flags.backend !== undefined && !isBackendName(flags.backend)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}.`);
  switch (command) {
    case 'train': return cmdTrain(flags);
    case 'eval': return cmdEval(flags);
    case 'predict': return cmdPredict(flags);
    case 'inspect': {
      if (!rest[0]) throw new UsageError('inspect needs an adapter file.');
      return cmdInspect(rest[0], !!flags.json);
    }
    case 'export-peft': {
      if (!rest[0]) throw new UsageError('export-peft needs an adapter file.');
      const taskType = flags['task-type'];
      if (taskType !== undefined && taskType !== 'CAUSAL_LM' && taskType !== 'SEQ_2_SEQ_LM') throw new UsageError('--task-type must be CAUSAL_LM or SEQ_2_SEQ_LM.');
      if (taskType !== undefined && !flags.force) {
        const modelType = readAdapter(path.resolve(rest[0])).meta.base_model.model_type;
        const fits = SEQ2SEQ_MODEL_TYPES.has(modelType) ? 'SEQ_2_SEQ_LM' : 'CAUSAL_LM';
        if (taskType !== fits) throw new UsageError(`--task-type ${taskType} does not fit the adapter's ${modelType} model (PEFT loads it as ${fits}); leave it out, or pass --force to write it anyway.`);
      }
      const res = exportPeft(path.resolve(rest[0]), path.resolve(required(flags, 'out')), {
        ...(flags['base-model'] ? { baseModelNameOrPath: flags['base-model'] } : {}), ...(taskType ? { taskType } : {}), force: !!flags.force,
      });
      console.log(flags.json ? JSON.stringify(res) : `wrote ${res.configFile}\nwrote ${res.weightsFile}`);
      return;
    }
    case 'import-peft': {
      if (!rest[0]) throw new UsageError('import-peft needs a PEFT adapter folder (adapter_config.json + adapter_model.safetensors).');
      return cmdImportPeft(path.resolve(rest[0]), flags);
    }
    case 'forward': return cmdForward(flags);
    case 'download': {
      if (!rest[0]) throw new UsageError('download needs a Hub model id (ORG/NAME[@REVISION]) or dataset file (hf://datasets/ORG/NAME/PATH).');
      return cmdDownload(rest[0], !!flags.json);
    }
    case 'presets': return void console.log(flags.json ? JSON.stringify(presetsJson()) : presetsText());
    case 'models': return printModels(await listModels(process.cwd(), process.env, flags.python), !!flags.json);
    case 'export-job': return cmdExportJob(flags);
    case 'sweep': return cmdSweep(flags);
    case 'doctor': {
      const report = await doctor({ python: flags.python });
      console.log(flags.json ? JSON.stringify(report) : doctorText(report));
      return;
    }
    default:
      throw new UsageError(`Unknown command "${command}".`);
  }
}

/**
 * `ulpt export-job [train's flags] --out DIR`: the job prepared here (data tokenized, every check of train), with the
 * engine's package and launch scripts, for a cluster that runs PyTorch's launcher. `--out` names the job's folder;
 * the adapter's path on the cluster is launch.sh's OUT.
 */
async function cmdExportJob(flags: Flags): Promise<void> {
  if (flags.grid) {
    // A sweep: one exported job per run and a SLURM job array over them (src/sweep/slurm.ts).
    const allowed = ['config', 'grid', 'seeds', 'pick', 'dev-split', 'steps', 'out', 'force', 'json'];
    const other = Object.keys(flags).find((k) => !allowed.includes(k));
    if (other) throw new UsageError(`export-job --grid takes --${allowed.join(', --')}; --${other} belongs in the config file or a --grid.`);
    return exportSweepCommand({ config: flags.config, grid: flags.grid, seeds: flags.seeds, pick: flags.pick, devSplit: flags['dev-split'], steps: num(flags, 'steps'), json: !!flags.json, out: required(flags, 'out'), force: !!flags.force });
  }
  const dir = path.resolve(required(flags, 'out'));
  if (flags.resume || flags['run-dir'] || flags.nproc) throw new UsageError(`export-job writes a job to start on a cluster: --${flags.resume ? 'resume' : flags['run-dir'] ? 'run-dir' : 'nproc'} is for launch.sh there (RUN_DIR, NPROC_PER_NODE).`);
  const { config, names } = configFromFlags({ ...flags, out: undefined });
  const local = await resolveHubInputs(config, hubOptions(!!flags.json));
  const job = await exportJob(local, dir, { force: !!flags.force, names, launch: { shard: flags.fsdp ? 'fsdp' : undefined, precision: precisionFlag(flags) } });
  if (flags.json) return void console.log(JSON.stringify(job));
  for (const w of job.warnings) console.error(`ulpt: warning: ${w}`);
  console.log(`wrote the job to ${dir} (${job.examples.train} training and ${job.examples.validation} validation examples, tokenized)`);
  console.log(`  on the cluster: MODEL=/path/to/model NPROC_PER_NODE=4 bash ${path.join(dir, 'launch.sh')}   (or sbatch slurm.sbatch; see README.md)`);
}

/** `ulpt sweep`: src/sweep/command.ts runs it; the flags train takes besides these set nothing there (refused). */
async function cmdSweep(flags: Flags): Promise<void> {
  if (flags.results !== undefined) {
    const extra = Object.keys(flags).find((k) => k !== 'results' && k !== 'json');
    if (extra) throw new UsageError(`ulpt sweep --results DIR only writes the table of the runs there; --${extra} does not go with it.`);
    process.exitCode = await sweepResultsCommand(flags.results, !!flags.json);
    return;
  }
  const allowed = ['config', 'grid', 'seeds', 'pick', 'dev-split', 'steps', 'engine', 'backend', 'out', 'python', 'json'];
  const other = Object.keys(flags).find((k) => !allowed.includes(k));
  if (other) throw new UsageError(`ulpt sweep takes --${allowed.join(', --')}; --${other} belongs in the config file or a --grid.`);
  process.exitCode = await sweepCommand({
    config: flags.config, grid: flags.grid ?? [], seeds: flags.seeds, pick: flags.pick, devSplit: flags['dev-split'], steps: num(flags, 'steps'),
    engine: flags.engine, backend: flags.backend, out: flags.out, python: flags.python, json: !!flags.json, printer: printer(!!flags.json), hub: hubOptions(!!flags.json),
  });
}

/**
 * Output to a closed pipe (`ulpt train … | head -1`) is dropped instead of ending the process: the run goes on to
 * its end, with its checkpoints and adapter, and releases its lock. Node reports the closed pipe as an 'error'
 * event on the stream, which would otherwise be uncaught.
 */
function keepGoingWhenOutputCloses(): void {
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
}

if (require.main === module) {
  keepGoingWhenOutputCloses();
  main(process.argv.slice(2)).catch((e: unknown) => {
    const err = e as Error;
    // 2: the command line or configuration is wrong and nothing was done; 1: the model, data or training failed.
    const usage = err instanceof UsageError || err instanceof ConfigError || err instanceof RunFolderError || err instanceof FitError || err instanceof PythonEngineError ||
      err instanceof PeftOutError || err instanceof JobOutError || (err as NodeJS.ErrnoException).code?.startsWith?.('ERR_PARSE_ARGS');
    const help = err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith?.('ERR_PARSE_ARGS');
    console.error(`ulpt: ${err.message}${help ? '\nRun "ulpt --help" for usage.' : ''}`);
    if (process.env.ULPT_DEBUG) console.error(err.stack);
    // With --json the error is a message on stdout too, so a program reading only stdout learns why it ended.
    const argv = process.argv.slice(2);
    if (argv.slice(0, argv.includes('--') ? argv.indexOf('--') : argv.length).includes('--json')) {
      process.stdout.write(JSON.stringify({ type: 'error', message: err.message, exitCode: usage ? 2 : 1 }) + '\n');
    }
    process.exit(usage ? 2 : 1);
  });
}
