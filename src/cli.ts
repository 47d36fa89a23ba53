#!/usr/bin/env node
// `ulpt`: the engine without VS Code. Every command prints for people by default and JSON with --json.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { BACKENDS, initBackend, isBackendName, type BackendName, type BackendReport } from './backend';
import { resolveConfig, ConfigError, type TrainConfig } from './config';
import { readRecords, buildExamples, buildInputs } from './data';
import { readAdapter, checkAdapterMatchesModel, type Adapter } from './io/adapter';
import { exportPeft } from './io/peft';
import { loadModel } from './models/loader';
import type { CausalLM } from './models/types';
import type { TrainerMessage } from './protocol';
import { promptFromAdapter, type PromptModule } from './ulpt/prompt';
import { evaluate, classify, generate, labelSetFor } from './train/evaluate';
import { train } from './train/trainer';
import { sequenceLogits } from './train/objective';

const USAGE = `ulpt — Ultra-Low-dimensional Prompt Tuning

  ulpt train --model DIR --train FILE [--validation FILE] [--method ulpt|prompt-tuning] [--rank R]
             [--prompt-length N] [--steps S] [--lr LR] [--batch-size B] [--seed K] [--out FILE.ulpt]
             [--backend auto|tensorflow-gpu|webgpu|tensorflow|wasm|cpu] [--run-dir DIR] [--json]
  ulpt train --config FILE [any flag above overrides the file]
  ulpt train --resume RUN_DIR [--json]
  ulpt eval --model DIR --adapter FILE --data FILE [--json]
  ulpt predict --model DIR --adapter FILE (--input TEXT | --data FILE) [--json]
  ulpt inspect ADAPTER [--json]
  ulpt export-peft ADAPTER --out DIR [--base-model NAME_OR_PATH]
  ulpt forward --model DIR --ids 1,2,3 [--adapter FILE] --json

Training settings (config file fields): see README.md; the JSON schema is src/config.schema.json.`;

class UsageError extends Error {}

const OPTIONS = {
  model: { type: 'string' }, train: { type: 'string' }, validation: { type: 'string' }, config: { type: 'string' },
  method: { type: 'string' }, rank: { type: 'string' }, 'prompt-length': { type: 'string' }, steps: { type: 'string' },
  lr: { type: 'string' }, 'batch-size': { type: 'string' }, 'grad-accumulation': { type: 'string' }, 'warmup-steps': { type: 'string' },
  'weight-decay': { type: 'string' }, 'max-length': { type: 'string' }, 'eval-every': { type: 'string' }, 'checkpoint-every': { type: 'string' },
  'validation-split': { type: 'string' }, 'early-stopping': { type: 'string' }, 'no-alignment': { type: 'boolean' }, 'scale-init': { type: 'string' },
  task: { type: 'string' }, template: { type: 'string' }, 'input-field': { type: 'string' }, 'target-field': { type: 'string' },
  seed: { type: 'string' }, out: { type: 'string' }, backend: { type: 'string' }, 'run-dir': { type: 'string' }, resume: { type: 'string' },
  json: { type: 'boolean' }, adapter: { type: 'string' }, data: { type: 'string' }, input: { type: 'string' }, ids: { type: 'string' },
  'base-model': { type: 'string' }, help: { type: 'boolean', short: 'h' },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function num(flags: Flags, key: keyof Flags, integer = true): number | undefined {
  const v = flags[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new UsageError(`--${key} must be ${integer ? 'an integer' : 'a number'}, got "${v}".`);
  return n;
}

function required(flags: Flags, key: keyof Flags): string {
  const v = flags[key];
  if (typeof v !== 'string' || !v) throw new UsageError(`--${key} is required.`);
  return v;
}

/** Flags override the config file; the file's relative paths are resolved from its folder. */
export function configFromFlags(flags: Flags): TrainConfig {
  let raw: Record<string, unknown> = {};
  let baseDir = process.cwd();
  let source = 'the command line';
  if (flags.config) {
    const file = path.resolve(flags.config);
    try {
      raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`Cannot read the config file ${file}: ${(e as Error).message}`);
    }
    baseDir = path.dirname(file);
    source = file;
  }
  const cwd = (p: string | undefined) => (p === undefined ? undefined : path.resolve(p));
  const over: Record<string, unknown> = {
    model: cwd(flags.model), train: cwd(flags.train), validation: cwd(flags.validation), out: cwd(flags.out),
    method: flags.method, rank: num(flags, 'rank'), promptLength: num(flags, 'prompt-length'), steps: num(flags, 'steps'),
    lr: num(flags, 'lr', false), batchSize: num(flags, 'batch-size'), gradAccumulation: num(flags, 'grad-accumulation'),
    warmupSteps: num(flags, 'warmup-steps'), weightDecay: num(flags, 'weight-decay', false), maxLength: num(flags, 'max-length'),
    evalEvery: num(flags, 'eval-every'), checkpointEvery: num(flags, 'checkpoint-every'), validationSplit: num(flags, 'validation-split', false),
    earlyStoppingPatience: num(flags, 'early-stopping'), seed: flags.seed, backend: flags.backend,
    alignment: flags['no-alignment'] ? false : undefined, scaleInit: flags['scale-init'],
  };
  for (const [k, v] of Object.entries(over)) if (v !== undefined) raw[k] = v;
  const task = { ...((raw.task as Record<string, unknown>) ?? {}) };
  if (flags.task) task.type = flags.task;
  if (flags.template) task.template = flags.template;
  if (flags['input-field']) task.inputField = flags['input-field'];
  if (flags['target-field']) task.targetField = flags['target-field'];
  if (Object.keys(task).length) raw.task = task;
  return resolveConfig(raw, baseDir, source);
}

/** `.ulpt/runs/<time>_<name>` in the workspace: the config file's folder, else the working directory. */
function defaultRunDir(config: TrainConfig, base: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);
  const name = path.basename(config.out).replace(/\.ulpt$/, '');
  return path.resolve(base, '.ulpt', 'runs', `${stamp}_${name}`);
}

function backendLine(b: BackendReport): string {
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
        } else if (pct >= lastPct + 10 || m.step === m.totalSteps) {
          lastPct = pct;
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
        console.error(`${tty ? '\r\x1b[K' : ''}  ${m.message}`);
        break;
      case 'finished': {
        const s = m.summary;
        if (tty) process.stderr.write('\n');
        console.log(`ulpt: ${s.reason} after ${s.steps} steps in ${s.seconds.toFixed(1)} s on ${s.backend} — ${s.device}`);
        if (s.final) console.log(`  final training loss ${s.final.loss.toFixed(4)}`);
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

async function cmdTrain(flags: Flags): Promise<void> {
  let config: TrainConfig;
  let runDir: string;
  const resume = !!flags.resume;
  if (flags.resume) {
    runDir = path.resolve(flags.resume);
    const file = path.join(runDir, 'config.json');
    if (!fs.existsSync(file)) throw new UsageError(`${runDir} is not a run folder: it has no config.json.`);
    config = JSON.parse(fs.readFileSync(file, 'utf8')) as TrainConfig;
  } else {
    config = configFromFlags(flags);
    runDir = flags['run-dir'] ? path.resolve(flags['run-dir']) : defaultRunDir(config, flags.config ? path.dirname(path.resolve(flags.config)) : process.cwd());
  }
  const backend = await initBackend(config.backend);
  let stop = false;
  const onSignal = () => {
    if (stop) process.exit(130);
    stop = true;
    console.error('\nulpt: stopping after this step (Ctrl+C again to abort)…');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const summary = await train(config, { runDir, backend, resume, shouldStop: () => stop, onMessage: printer(!!flags.json) });
  if (summary.reason === 'stopped') process.exitCode = 130;
}

async function loadAdapted(flags: Flags): Promise<{ model: CausalLM; adapter: Adapter | null; prompt: PromptModule | null }> {
  await initBackend((flags.backend as BackendName) ?? 'auto');
  const model = await loadModel(required(flags, 'model'));
  if (!flags.adapter) return { model, adapter: null, prompt: null };
  const file = path.resolve(flags.adapter);
  const adapter = readAdapter(file);
  checkAdapterMatchesModel(adapter.meta, model.info, file);
  return { model, adapter, prompt: await promptFromAdapter(adapter, model.tokenEmbeddings) };
}

function taskOf(adapter: Adapter) {
  const t = adapter.meta.task;
  return { type: t.type, template: t.template, inputField: t.input_field, targetField: t.target_field, ...(t.labels ? { labels: Object.fromEntries(t.labels.names.map((n, i) => [n, t.labels!.words[i]])) } : {}) };
}

async function cmdEval(flags: Flags): Promise<void> {
  const { model, adapter, prompt } = await loadAdapted(flags);
  if (!adapter) throw new UsageError('--adapter is required.');
  const task = taskOf(adapter);
  const records = await readRecords(path.resolve(required(flags, 'data')));
  const maxLength = model.info.maxPositions - adapter.meta.num_virtual_tokens;
  const labels = adapter.meta.task.labels;
  const examples = buildExamples(records, task, model.tokenizer, maxLength, labels);
  const res = await evaluate(model, prompt, examples, task.type, labelSetFor(labels, model.tokenizer), 16);
  const out = { examples: examples.length, loss: res.loss, ...res.metrics };
  console.log(flags.json ? JSON.stringify(out) : Object.entries(out).map(([k, v]) => `${k}: ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : v}`).join('\n'));
}

async function cmdPredict(flags: Flags): Promise<void> {
  const { model, adapter, prompt } = await loadAdapted(flags);
  if (!adapter) throw new UsageError('--adapter is required.');
  const task = taskOf(adapter);
  const records = flags.input !== undefined
    ? [{ where: { file: '--input', label: 'argument' }, fields: { [task.inputField]: flags.input } }]
    : await readRecords(path.resolve(required(flags, 'data')));
  // Leave room after the prompt for the longest label word, or for a quarter of the context to generate into.
  const labels = labelSetFor(adapter.meta.task.labels, model.tokenizer);
  const room = model.info.maxPositions - adapter.meta.num_virtual_tokens;
  const reserve = labels ? Math.max(...labels.tokens.map((t) => t.length)) : Math.floor(room / 4);
  const inputs = buildInputs(records, task, model.tokenizer, Math.max(1, room - reserve));
  const preds = labels
    ? (await classify(model, prompt, inputs, labels, 16)).map((i) => labels.names[i])
    : (await generate(model, prompt, inputs, 64, 16)).map((ids) => model.tokenizer.decode(ids));
  for (const p of preds) console.log(flags.json ? JSON.stringify({ prediction: p }) : p);
}

function cmdInspect(file: string, json: boolean): void {
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
  console.log(`  created ${m.created}, ${String(m.training.steps_done)} steps on ${String(m.training.backend)}`);
}

async function cmdForward(flags: Flags): Promise<void> {
  const { model, prompt } = await loadAdapted(flags);
  const ids = required(flags, 'ids').split(',').map((s) => Number(s.trim()));
  if (ids.some((i) => !Number.isInteger(i) || i < 0 || i >= model.info.vocabSize)) throw new UsageError(`--ids must be token ids in [0, ${model.info.vocabSize}).`);
  const logits = sequenceLogits(model, prompt, ids);
  const rows = (await logits.array()) as number[][];
  logits.dispose();
  const out = { model: model.info.name, ids, virtual_tokens: prompt?.length ?? 0, shape: [rows.length, model.info.vocabSize], logits: rows };
  if (flags.json) console.log(JSON.stringify(out));
  else rows.forEach((r, i) => console.log(`position ${i}: argmax ${r.indexOf(Math.max(...r))}, logits[0..4] ${r.slice(0, 5).map((x) => x.toFixed(4)).join(' ')}`));
}

async function main(argv: string[]): Promise<void> {
  const { values: flags, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  const [command, ...rest] = positionals;
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
      const res = exportPeft(path.resolve(rest[0]), path.resolve(required(flags, 'out')), flags['base-model'] ? { baseModelNameOrPath: flags['base-model'] } : {});
      console.log(flags.json ? JSON.stringify(res) : `wrote ${res.configFile}\nwrote ${res.weightsFile}`);
      return;
    }
    case 'forward': return cmdForward(flags);
    default:
      throw new UsageError(`Unknown command "${command}".`);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    const err = e as Error;
    const usage = err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith?.('ERR_PARSE_ARGS');
    console.error(`ulpt: ${err.message}${usage ? '\nRun "ulpt --help" for usage.' : ''}`);
    if (process.env.ULPT_DEBUG) console.error(err.stack);
    process.exit(usage ? 2 : 1);
  });
}
