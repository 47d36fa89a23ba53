// The training loop: frozen model + trainable prompt, AdamW on the prompt's variables only, evaluation and
// best-adapter selection, checkpoints that resume exactly. Progress goes out as protocol messages and into the
// run folder (config.json, metrics.jsonl, checkpoint.safetensors, best.ulpt, final.ulpt).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf, type BackendReport } from '../backend';
import { defaultMaxLength, type FieldNames, type TrainConfig } from '../config';
import { readRecords, buildExamples, resolveLabels, splitValidation, type Example, type TaskLabels } from '../data';
import { DataWarnings } from '../data/warnings';
import { templateFields } from '../data/template';
import { DatasetError } from '../data/errors';
import { dataPresent } from '../data/files';
import type { DataRecord } from '../data/readers';
import { checkPresetColumns, columnsRead, filterRecords } from '../presets';
import { readAdapter, writeAdapter, trainableParameters, type Adapter } from '../io/adapter';
import { appendFileChecked, writeError, writeFileAtomic, WriteError } from '../io/atomic';
import { loadModel } from '../models/loader';
import type { LanguageModel } from '../models/types';
import type { MetricsLine, RunSummary, StepPoint, TrainerMessage, ModelSummary } from '../protocol';
import { etaFromPoints } from './eta';
import { parseSeed } from '../ulpt/projection';
import { createPrompt, type PromptModule } from '../ulpt/prompt';
import { collateFor, ExampleStream } from './batch';
import { CHECKPOINT_FILE, checkpointInputs, checkpointThreads, loadCheckpoint, saveCheckpoint, type LoopState } from './checkpoint';
import { inputChanges, runInputs } from './inputs';
import { evaluate, labelSetFor, primaryMetric, type LabelSet } from './evaluate';
import { AdamW, ADAMW_DEFAULTS, clipByGlobalNorm } from './optimizer';
import { learningRate } from './schedule';
import { chooseThreads, createStepRunner, deviceWithThreads, threadBytesFor } from './parallel';
import { takeThreadLease, threadsLeasedByOthers } from './threadBudget';
import type { StepRunner } from './step';
import { appendLogMessage, claimRunFolder, creatableProblem, removeEmptyFolders, removeLeftoverTempFiles, DamagedRunError, describeDiagnosis, diagnoseRun, failureOf, RUN_FILES, runFolderProblem, RunFolderError, writeFailure, writeStarted } from './runFolder';
import { acquireRunLock, type RunLockHandle } from './runLock';

export interface TrainOptions {
  runDir: string;
  backend: BackendReport;
  resume?: boolean;
  /** End this session after this many optimiser steps in total (the schedule still spans config.steps). */
  stopAtStep?: number;
  /** Polled between steps; true ends the run cleanly with a checkpoint (Ctrl+C). A stop-request.json in the run folder does the same. */
  shouldStop?: () => boolean;
  /** Who trains, for the run folder's lock.json ("ulpt train", "ULPT Studio"); readers show it. */
  owner?: string;
  /** The caller already claimed the run folder (claimRunFolder, with this config): train there, do not claim it again. */
  claimed?: boolean;
  onMessage?: (m: TrainerMessage) => void;
  /** An already loaded model (a sweep on the built-in engine reuses one across runs). */
  model?: LanguageModel;
  /** Replace `out` even when it is not a ULPT adapter (the CLI's --force). */
  force?: boolean;
  /** How the user wrote each config field ("--max-length" on the command line), for messages. */
  fieldNames?: FieldNames;
  /** Resume even though the data, the model or the settings differ from what the checkpoint was trained with. */
  acceptChanges?: boolean;
}

export interface PreparedData {
  train: Example[];
  validation: Example[];
  labels: TaskLabels | null;
  labelSet: LabelSet | null;
  warnings: DataWarnings;
}

/**
 * Reads, tokenizes and splits the data; `config.maxLength` must be resolved (fitToModel). Needs the model's facts
 * and tokenizer only, not its weights (the PyTorch engine's preparation, src/engine/prepare.ts, passes no more).
 */
export async function prepareData(config: TrainConfig, model: Pick<LanguageModel, 'info' | 'kind' | 'tokenizer'>): Promise<PreparedData> {
  const { task } = config;
  const warnings = new DataWarnings();
  const trainRecords = await readData(config, config.train, warnings);
  const validationRecords = config.validation ? await readData(config, config.validation, warnings) : [];
  const labels = task.type === 'classification' ? resolveLabels(task, [...trainRecords, ...validationRecords]) : null;
  const maxLength = config.maxLength ?? defaultMaxLength(model.info.maxPositions, config.promptLength);
  const seq2seq = model.kind === 'encoder-decoder';
  const build = (records: typeof trainRecords) => buildExamples(records, task, model.tokenizer, maxLength, labels ?? undefined, warnings, { seq2seq });
  let train = build(trainRecords);
  let validation = build(validationRecords);
  if (!config.validation && config.validationSplit > 0) ({ train, validation } = splitValidation(train, config.validationSplit, config.seed));
  if (labels) warnUntrainedLabels(labels, train, validation, config.train, warnings);
  warnSuspectTask(config, labels, warnings);
  return { train, validation, labels, labelSet: labelSetFor(labels, model.tokenizer), warnings };
}

/**
 * One data file's records as a run reads them: only the columns its task reads, checked against the preset's columns
 * (when a preset filled the task), then filtered (a sweep's held-out scoring reads its file so too).
 */
export async function readData(config: TrainConfig, spec: string, warnings: DataWarnings): Promise<DataRecord[]> {
  const records = await readRecords(spec, { warnings, columns: columnsRead(config.task, config.filter) });
  if (config.preset) checkPresetColumns(config.preset, records, config.task, config.filter);
  return filterRecords(records, config.filter, spec);
}

/** A label no training example carries is stored in the adapter but never learned: say so, and where it does appear. */
function warnUntrainedLabels(labels: TaskLabels, train: Example[], validation: Example[], trainFile: string, warnings: DataWarnings): void {
  const trained = new Set(train.map((e) => e.label));
  labels.names.forEach((name, i) => {
    if (trained.has(i)) return;
    const seen = validation.filter((e) => e.label === i);
    const message = seen.length
      ? `label "${name}" appears only in the validation data (${seen.length} record${seen.length > 1 ? 's' : ''}, first at ${path.basename(seen[0].where.file)} ${seen[0].where.label}); no training example has it, so the model never learns to answer it.`
      : `label "${name}" (from task.labels) has no training example; the model never learns to answer it.`;
    warnings.addMessage('label-untrained', trainFile, message);
  });
}

/** What trains, but most likely not as meant: a template without fields, validation on the training file, one or an empty label. */
function warnSuspectTask(config: TrainConfig, labels: TaskLabels | null, warnings: DataWarnings): void {
  const { task } = config;
  const say = (message: string) => warnings.addMessage('task-suspect', config.train, message);
  if (templateFields(task.template).length === 0) {
    say(`the template ${JSON.stringify(task.template)} uses no field of the data, so every example gets the same prompt; write {${task.inputField}} where the input goes.`);
  }
  if (config.validation && path.resolve(config.validation) === path.resolve(config.train)) {
    say('the validation file is the training file: evaluation then measures what was trained on, and the best adapter is chosen by it.');
  }
  if (labels && labels.names.length === 1) say(`every record has the label "${labels.names[0]}": the model can only learn to always answer it.`);
  if (labels?.names.includes('')) say(`a label is empty (a record's "${task.targetField}" is ""): the model is trained to answer a bare space for it.`);
}

/** Every data warning as a log line; with `strict`, all of them together as one error (before any work is done). */
function reportWarnings(warnings: DataWarnings, strict: boolean, emit: (m: TrainerMessage) => void): string[] {
  const lines = warnings.list().map((w) => w.message);
  if (strict && lines.length) {
    throw new DatasetError(lines.length === 1 ? warnings.list()[0].file : 'the data', `strict mode refuses ${lines.length} data warning${lines.length > 1 ? 's' : ''}:\n  ${lines.join('\n  ')}`);
  }
  for (const message of lines) emit({ type: 'log', level: 'warn', message });
  return lines;
}

/**
 * The config with maxLength resolved against the model's context: unset → what fits after the virtual tokens
 * (capped); set → checked, and refused with the numbers and the setting to change when it does not fit.
 */
export function fitToModel(config: TrainConfig, model: Pick<LanguageModel, 'info'>, names: FieldNames = (f) => f): TrainConfig & { maxLength: number } {
  const context = model.info.maxPositions;
  const where = `${model.info.name} holds ${context} positions (${model.info.positionsField ?? 'its context'} in config.json)`;
  if (config.method === 'ulpt' && config.rank > model.info.hiddenSize) {
    throw new FitError(`${names('rank')} ${config.rank} is larger than ${model.info.name}'s hidden size ${model.info.hiddenSize}: the projection maps rank-${config.rank} codes into ${model.info.hiddenSize} dimensions. Use a rank of at most ${model.info.hiddenSize}.`);
  }
  if (config.promptLength >= context) {
    throw new FitError(`${names('promptLength')} ${config.promptLength} leaves no room for text: ${where}. Use fewer virtual tokens.`);
  }
  if (config.maxLength === undefined) return { ...config, maxLength: defaultMaxLength(context, config.promptLength) };
  const total = config.maxLength + config.promptLength;
  if (total > context) {
    throw new FitError(`${names('maxLength')} ${config.maxLength} + ${names('promptLength')} ${config.promptLength} = ${total} tokens, but ${where}. ` +
      `Set ${names('maxLength')} to at most ${context - config.promptLength}, or leave it out (the default fits the model).`);
  }
  return { ...config, maxLength: config.maxLength };
}

/** A step gave a non-finite loss or gradient; the message names the step and the likely cause. */
export class DivergedError extends Error {
  override name = 'DivergedError';
}

/** The first weight of the model that holds NaN or ±Infinity, with its value, or null. */
async function nonFiniteWeight(model: LanguageModel): Promise<string | null> {
  for (const [name, w] of model.weights) {
    const bad = tf.tidy(() => tf.any(tf.logicalNot(tf.isFinite(w))));
    const found = (await bad.data())[0];
    bad.dispose();
    if (found) return name;
  }
  return null;
}

async function divergence(config: TrainConfig, model: LanguageModel, step: number, loss: number, gradNorm: number, checkpointStep: number): Promise<DivergedError> {
  const what = Number.isFinite(loss) ? `the gradient norm is ${gradNorm} (loss ${loss})` : `the loss is ${loss}`;
  const weight = step === 1 || checkpointStep < 0 ? await nonFiniteWeight(model) : null;
  const cause = weight
    ? `the model's weight ${weight} holds NaN or infinite values (${config.model} is damaged; the prompt cannot fix that)`
    : step === 1
      ? `the un-prompted model already gives non-finite values on this data (an input that overflows it), or a setting is extreme (lr ${config.lr}, maxGradNorm ${config.maxGradNorm})`
      : `the learning rate is too high for this run (lr ${config.lr}${config.warmupSteps ? `, warm-up ${config.warmupSteps} steps` : ''}): start again with a lower one, e.g. lr ${Number((config.lr / 10).toPrecision(3))}`;
  const kept = checkpointStep > 0 ? ` The run folder keeps its checkpoint of step ${checkpointStep}, from before the divergence.` : '';
  return new DivergedError(`Training diverged at step ${step}: ${what}. Likely cause: ${cause}. Stopped there; nothing non-finite was saved.${kept}`);
}

/** A resume that would not continue the same run (changed inputs, steps behind the checkpoint, a finished run). */
export class ResumeRefusedError extends RunFolderError {
  override name = 'ResumeRefusedError';
}

/**
 * What a resume must not do: go on with a run that already finished, go back behind its checkpoint, or continue
 * with other data, model or settings than the checkpoint was trained with (unless `acceptChanges`; the changes
 * are returned to be reported). A damaged folder is left to the diagnosis that follows.
 */
export function checkResume(requested: TrainConfig, opts: Pick<TrainOptions, 'runDir' | 'acceptChanges'>): string[] {
  const dir = opts.runDir;
  const d = diagnoseRun(dir);
  // A run another process trains is refused by the lock, naming its owner; a damaged one by the diagnosis.
  if (d.owner.state === 'alive' || !d.resumable || d.checkpointStep === null) return [];
  const summary = readSummary(dir);
  if (summary && summary.reason !== 'stopped' && summary.steps === d.checkpointStep && (summary.reason === 'early-stopped' || requested.steps <= summary.steps)) {
    const adapter = summary.adapter ?? path.join(dir, RUN_FILES.final);
    throw new ResumeRefusedError(`${dir} already completed (${summary.reason} after ${summary.steps} of ${requested.steps} steps); nothing was changed. Its adapter: ${adapter}`);
  }
  if (requested.steps < d.checkpointStep) {
    throw new ResumeRefusedError(`${dir}: its config.json asks for ${requested.steps} steps, but its checkpoint is at step ${d.checkpointStep}; a resume cannot go back. ` +
      `Set steps to at least ${d.checkpointStep} in ${path.join(dir, RUN_FILES.config)}, or start a new run.`);
  }
  const before = checkpointInputs(path.join(dir, CHECKPOINT_FILE));
  // Missing model or data are reported by the loader and the data reader, in their words.
  if (!before || !fs.existsSync(requested.model) || !dataPresent(requested.train) || (requested.validation && !dataPresent(requested.validation))) return [];
  const { changed, noted } = inputChanges(before, runInputs(requested));
  if (changed.length && !opts.acceptChanges) {
    throw new ResumeRefusedError(`${dir} would not resume the same run: since its checkpoint (step ${d.checkpointStep}),\n  ${changed.join('\n  ')}\n` +
      'Restore what changed, or start a new run; to continue anyway (the rest of the run then differs from its start), resume with --accept-changes.');
  }
  return [...changed.map((c) => `${c} (accepted with --accept-changes)`), ...noted.map((c) => `${c} (the learning-rate schedule and evaluations follow the new value)`)];
}

function readSummary(dir: string): RunSummary | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, RUN_FILES.summary), 'utf8')) as RunSummary;
  } catch {
    return null;
  }
}

/** The run does not fit the model's context: a setting the user can change. */
export class FitError extends Error {
  override name = 'FitError';
}

/**
 * Why the adapter cannot be written to `out`, or null: a folder is never replaced, nor a file that is not a ULPT
 * adapter (unless `force`); the nearest existing parent must be a folder.
 */
export function outPathProblem(out: string, force = false, names: FieldNames = (f) => f): string | null {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(out);
  } catch {
    return creatableProblem(out, `${names('out')} ${out}`);
  }
  if (stat.isDirectory()) return `${names('out')} ${out} is a folder; it must name the adapter file to write (e.g. ${path.join(out, 'adapter.ulpt')}).`;
  // Replacing a file is a rename in its folder: the folder must be writable.
  const folder = creatableProblem(out, `${names('out')} ${out}`);
  if (folder) return folder;
  if (force) return null;
  try {
    readAdapter(out);
    return null; // an older adapter: replacing it is what `out` is for
  } catch {
    return `${names('out')} ${out} exists and is not a ULPT adapter, so it is not replaced. Choose another path, or pass --force to replace it.`;
  }
}

export function modelSummary(model: LanguageModel): ModelSummary {
  const { modelType, name, hiddenSize, vocabSize, numLayers, parameters, fingerprint } = model.info;
  return { modelType, name, hiddenSize, vocabSize, numLayers, parameters, fingerprint };
}

/**
 * The adapter for the prompt's current values. Paths in the stored config are reduced to file names; a Hub model is
 * recorded by its id (the snapshot folder's name is only a commit hash), its commit in training.hub.
 */
export async function adapterFor(prompt: PromptModule, config: TrainConfig, model: LanguageModel, labels: TaskLabels | null, extra: { step: number; metrics: Record<string, number>; backend: string }): Promise<Adapter> {
  const base = (p?: string) => (p ? path.basename(p) : undefined);
  return {
    meta: {
      format: 'ulpt-adapter',
      version: 1,
      method: prompt.method,
      num_virtual_tokens: prompt.length,
      rank: prompt.rank,
      hidden_size: prompt.hidden,
      alignment: prompt.alignment,
      seed: parseSeed(config.seed).toString(),
      base_model: { model_type: model.info.modelType, name: model.info.name, fingerprint: model.info.fingerprint, vocab_size: model.info.vocabSize },
      task: {
        type: config.task.type,
        template: config.task.template,
        input_field: config.task.inputField,
        target_field: config.task.targetField,
        ...(labels ? { labels: { names: labels.names, words: labels.words } } : {}),
        ...(config.task.separator !== undefined ? { separator: config.task.separator } : {}),
      },
      training: { ...config, model: config.hub?.model?.repo ?? base(config.model), train: base(config.train), validation: base(config.validation), out: base(config.out), steps_done: extra.step, backend: extra.backend },
      metrics: extra.metrics,
      trainable_parameters: prompt.trainableParameters,
      created: new Date().toISOString(),
    },
    tensors: await prompt.read(),
  };
}

interface EarlierResults {
  baseline: RunSummary['baseline'];
  lastLoss: number | null;
}

class RunFiles {
  constructor(readonly dir: string) {}
  file(name: string): string {
    return path.join(this.dir, name);
  }
  appendMetrics(line: MetricsLine): void {
    appendFileChecked(this.file('metrics.jsonl'), JSON.stringify(line) + '\n');
  }
  /** What a resumed run's summary keeps from before the checkpoint: the un-prompted baseline, the last loss. */
  earlierResults(): EarlierResults {
    const earlier: EarlierResults = { baseline: null, lastLoss: null };
    const f = this.file('metrics.jsonl');
    if (!fs.existsSync(f)) return earlier;
    for (const l of fs.readFileSync(f, 'utf8').split('\n')) {
      try {
        const m = JSON.parse(l) as MetricsLine;
        if (m.type === 'baseline') earlier.baseline = { loss: m.loss, metrics: m.metrics };
        if (m.type === 'train') earlier.lastLoss = m.loss;
      } catch {
        /* blank */
      }
    }
    return earlier;
  }
  /** On resume, drop lines written after the checkpoint (they will be produced again). */
  truncateMetrics(afterStep: number): void {
    const f = this.file('metrics.jsonl');
    if (!fs.existsSync(f)) return;
    const kept = fs.readFileSync(f, 'utf8').split('\n').filter((l) => {
      if (!l.trim()) return false;
      try {
        return (JSON.parse(l) as MetricsLine).step <= afterStep;
      } catch {
        return false; // a torn last line from a crash
      }
    });
    writeFileAtomic(f, kept.map((l) => l + '\n').join(''));
  }
}

/**
/**
 * The run folder as this process holds it, from the moment it is this run's (claimed, or resumed): lock.json with
 * a heartbeat, so other processes see that it trains and can ask it to stop; every message also in trainer.log,
 * what the run started on in started.json, an error in failure.json, so a reader that was not there (a reloaded
 * window) has it all. Messages from before (preflight warnings) are written once the folder is held: a refused
 * run leaves nothing behind.
 */
class RunHolder {
  private lock: RunLockHandle | null = null;
  private pending: TrainerMessage[] = [];
  step = 0;
  /** Set when this call created the run folder (a fresh run): the folders it made, from the topmost. */
  created: { createdFrom: string | undefined } | null = null;
  private discarded = false;
  private stopWarned = false;

  constructor(readonly dir: string, private readonly owner: string, private readonly onMessage?: (m: TrainerMessage) => void) {}

  hold(): void {
    if (this.lock) return;
    this.lock = acquireRunLock(this.dir, this.owner);
    // A new attempt: the failure of the previous one no longer describes the run.
    fs.rmSync(path.join(this.dir, RUN_FILES.failure), { force: true });
    for (const m of this.pending.splice(0)) appendLogMessage(this.dir, m);
  }

  readonly emit = (m: TrainerMessage): void => {
    if (m.type === 'step') this.step = m.step;
    if (m.type === 'started') this.step = m.startStep;
    if (this.lock) {
      if (m.type === 'started') writeStarted(this.dir, m);
      appendLogMessage(this.dir, m);
    } else {
      this.pending.push(m);
    }
    this.onMessage?.(m);
  };

  stopRequested(): boolean {
    const asked = this.lock?.stopRequested() ?? false;
    const damaged = asked && !this.stopWarned ? this.lock?.stopRequest()?.damaged : undefined;
    if (damaged) this.emit({ type: 'log', level: 'warn', message: damaged });
    this.stopWarned ||= asked;
    return asked;
  }

  /** Records why the run failed, in the folder, when it is this run's (a refused fresh run has no folder). */
  fail(e: unknown): void {
    if (!this.lock || this.discarded) return;
    const failure = failureOf(e, this.step);
    writeFailure(this.dir, failure);
    appendLogMessage(this.dir, { type: 'error', message: failure.message, ...(failure.stack ? { stack: failure.stack } : {}) });
  }

  get held(): boolean {
    return this.lock !== null;
  }

  release(): void {
    this.lock?.release();
  }

  /** Removes the folder of a fresh run that has nothing to keep (no checkpoint), and the parents made for it. */
  discard(): boolean {
    if (!this.created || fs.existsSync(path.join(this.dir, CHECKPOINT_FILE))) return false;
    this.release();
    this.discarded = true;
    fs.rmSync(this.dir, { recursive: true, force: true });
    if (this.created.createdFrom) removeEmptyFolders(path.dirname(this.dir), this.created.createdFrom);
    return true;
  }
}

/**
 * A write that failed during a run (a full disk), with what the run keeps: the last good checkpoint to resume
 * from, or, for a fresh run without one, nothing at all (its folder is removed again).
 */
function explainWriteFailure(e: WriteError, holder: RunHolder): WriteError {
  const explain = (text: string) => new WriteError(e.file, e.code, `${e.message}. ${text}`);
  const trained = holder.step ? `its ${holder.step} step${holder.step > 1 ? 's' : ''} had no checkpoint yet` : 'nothing was trained yet';
  if (holder.discard()) return explain(`The run stopped before its first checkpoint (${trained}), so its folder ${holder.dir} was removed again.`);
  if (!holder.held) return e;
  let step: number | null = null;
  try {
    step = diagnoseRun(holder.dir).checkpointStep;
  } catch {
    /* the folder itself is gone */
  }
  if (step === null) return explain(`The run stopped at step ${holder.step} and has no checkpoint to resume from.`);
  return explain(`The run stopped at step ${holder.step}; ${holder.dir} keeps its checkpoint of step ${step} intact. ` +
    `Free some space, then continue it with: ulpt train --resume ${holder.dir}`);
}

/**
 * Preflight, then training. Everything that can refuse the run (run folder, out path, model, context length, data,
 * strict warnings) is checked before the run folder is claimed, so a refused run leaves nothing behind. A resumed
 * run, or one whose folder the caller claimed (`claimed`), is held from the start; a fresh one from its claim.
 */
export async function train(requested: TrainConfig, opts: TrainOptions): Promise<RunSummary> {
  // Before the folder is held, so that a refused resume changes nothing in it.
  const accepted = opts.resume ? checkResume(requested, opts) : [];
  const holder = new RunHolder(opts.runDir, opts.owner ?? 'ulpt', opts.onMessage);
  if (opts.resume || opts.claimed) holder.hold();
  for (const change of accepted) holder.emit({ type: 'log', level: 'warn', message: `Resuming with a change: ${change}.` });
  try {
    return await trainChecked(requested, { ...opts, shouldStop: () => !!opts.shouldStop?.() || holder.stopRequested() }, holder);
  } catch (e) {
    const err = e instanceof WriteError ? explainWriteFailure(e, holder) : e;
    holder.fail(err);
    throw err;
  } finally {
    holder.release();
  }
}

async function trainChecked(requested: TrainConfig, opts: TrainOptions, holder: RunHolder): Promise<RunSummary> {
  const emit = holder.emit;
  const names = opts.fieldNames ?? ((f: string) => f);
  if (opts.resume) {
    const diagnosis = diagnoseRun(opts.runDir);
    if (!diagnosis.resumable) throw new DamagedRunError(`This run cannot be resumed. ${describeDiagnosis(diagnosis)}`);
    // The folder is this process's now (its lock is held): what killed writes left there and beside `out` goes.
    const removed = [...removeLeftoverTempFiles(opts.runDir), ...removeLeftoverTempFiles(path.dirname(requested.out), requested.out)];
    if (removed.length) emit({ type: 'log', level: 'info', message: `Removed ${removed.length} temp file${removed.length > 1 ? 's' : ''} left by an interrupted write: ${removed.join(', ')}.` });
  } else if (!opts.claimed) {
    const problem = runFolderProblem(opts.runDir);
    if (problem) throw new RunFolderError(problem);
  }
  const outProblem = outPathProblem(requested.out, opts.force, names);
  if (outProblem) throw new RunFolderError(outProblem);
  const model = opts.model ?? (await loadModel(requested.model));
  try {
    const config = fitToModel(requested, model, names);
    const data = await prepareData(config, model);
    const warnings = reportWarnings(data.warnings, config.strict, emit);
    if (!opts.resume && !opts.claimed) holder.created = claimRunFolder(opts.runDir, config);
    holder.hold();
    const files = new RunFiles(opts.runDir);
    const seed = parseSeed(config.seed);
    const prompt = await createPrompt(
      { method: config.method, length: config.promptLength, rank: config.rank, hidden: model.info.hiddenSize, seed, alignment: config.alignment, scaleInit: config.scaleInit },
      model.tokenEmbeddings,
    );
    const optimizer = new AdamW(prompt.variables, { ...ADAMW_DEFAULTS, weightDecay: config.weightDecay });
    let runner: StepRunner | null = null;
    let releaseThreads = () => {};
    try {
      // A resumed "auto" run keeps the thread count its checkpoint was computed with: the gradient sums' order
      // depends on it, and resume is exact.
      const resumed = opts.resume ? checkpointThreads(files.file(CHECKPOINT_FILE)) : undefined;
      const wanted = config.threads === 'auto' && resumed ? resumed : config.threads ?? 'auto';
      const positions = config.maxLength + config.promptLength;
      const busy = wanted === 'auto' ? threadsLeasedByOthers() : undefined;
      const choice = chooseThreads(wanted, opts.backend.name, config.batchSize, threadBytesFor(opts.backend.name, model.info, config.batchSize, positions), busy);
      releaseThreads = takeThreadLease(choice.threads, opts.runDir);
      runner = await createStepRunner({ threads: choice.threads, backend: opts.backend.name, model, prompt, seed });
      if (choice.note) emit({ type: 'log', level: 'info', message: `Training on ${choice.threads} thread${choice.threads === 1 ? '' : 's'}: ${choice.note}.` });
      return await loop(config, opts, files, model, prompt, optimizer, runner, data, warnings, emit);
    } finally {
      releaseThreads();
      await runner?.dispose();
      optimizer.dispose();
      prompt.dispose();
    }
  } finally {
    if (!opts.model) model.dispose();
  }
}

async function loop(
  config: TrainConfig, opts: TrainOptions, files: RunFiles, model: LanguageModel, prompt: PromptModule, optimizer: AdamW,
  runner: StepRunner, data: PreparedData, warnings: string[], emit: (m: TrainerMessage) => void,
): Promise<RunSummary> {
  const shape = { method: prompt.method, length: prompt.length, rank: prompt.rank, hidden: prompt.hidden, alignment: prompt.alignment };
  // Recorded in every checkpoint: what the steps up to it were trained with (checkResume compares).
  const inputs = runInputs(config);
  let state: LoopState = { step: 0, bestValue: null, bestStep: null, bestMetrics: null, evalsWithoutImprovement: 0, elapsedMs: 0, shape, threads: runner.threads, inputs };
  let earlier: EarlierResults = { baseline: null, lastLoss: null };
  if (opts.resume) {
    state = { ...loadCheckpoint(files.file(CHECKPOINT_FILE), prompt, optimizer), threads: runner.threads, inputs };
    files.truncateMetrics(state.step);
    earlier = files.earlierResults();
  }
  writeFileAtomic(files.file('config.json'), JSON.stringify(config, null, 2) + '\n');
  const backendName = opts.backend.name;
  const device = deviceWithThreads(opts.backend.device, runner.threads);
  const metric = primaryMetric(config.task);
  const vanilla = trainableParameters('prompt-tuning', prompt.length, 0, prompt.hidden, false);
  emit({
    type: 'started', runDir: files.dir, config, backend: { ...opts.backend, device }, model: modelSummary(model), trainableParameters: prompt.trainableParameters,
    vanillaParameters: vanilla, totalSteps: config.steps, startStep: state.step, examples: { train: data.train.length, validation: data.validation.length },
    warnings,
    threads: runner.threads,
  });
  for (const message of model.warnings) emit({ type: 'log', level: 'warn', message });

  const stream = new ExampleStream(data.train.length, parseSeed(config.seed));
  const lastStep = Math.min(config.steps, opts.stopAtStep ?? config.steps);
  const sessionStart = Date.now() - state.elapsedMs;
  const firstStep = state.step;
  const loopStart = Date.now();
  const recent: StepPoint[] = []; // the last steps' points, for the ETA
  let lastLoss: number | null = earlier.lastLoss;
  let reason: RunSummary['reason'] = 'completed';

  const saveAdapter = async (file: string, metrics: Record<string, number>) =>
    writeAdapter(file, await adapterFor(prompt, config, model, data.labels, { step: state.step, metrics, backend: backendName }));

  const runEval = async () => {
    if (!data.validation.length) return;
    const res = await evaluate(model, prompt, data.validation, config.task, data.labelSet, config.batchSize);
    const value = res.metrics[metric];
    // Ties on the metric (common early on: exact match stays 0) go to the lower eval loss.
    const best = state.bestValue === null || value > state.bestValue || (value === state.bestValue && res.loss < (state.bestMetrics?.loss ?? Infinity));
    if (best) {
      Object.assign(state, { bestValue: value, bestStep: state.step, bestMetrics: { loss: res.loss, ...res.metrics }, evalsWithoutImprovement: 0 });
      await saveAdapter(files.file('best.ulpt'), state.bestMetrics!);
      emit({ type: 'adapter', step: state.step, path: files.file('best.ulpt'), reason: 'best' });
    } else {
      state.evalsWithoutImprovement += 1;
    }
    const point = { step: state.step, loss: res.loss, metrics: res.metrics, metric, value, best };
    files.appendMetrics({ type: 'eval', ...point });
    emit({ type: 'eval', ...point });
  };
  // A resumed run's checkpoint already holds its starting step.
  let checkpointedAt = opts.resume ? state.step : -1;
  const checkpoint = async () => {
    checkpointedAt = state.step;
    state.elapsedMs = Date.now() - sessionStart;
    await saveCheckpoint(files.file(CHECKPOINT_FILE), prompt, optimizer, state);
    emit({ type: 'checkpoint', step: state.step, path: files.file(CHECKPOINT_FILE) });
  };

  let baseline: RunSummary['baseline'] = earlier.baseline;
  if (state.step === 0 && data.validation.length) {
    const res = await evaluate(model, null, data.validation, config.task, data.labelSet, config.batchSize);
    baseline = { loss: res.loss, metrics: res.metrics };
    files.appendMetrics({ type: 'baseline', step: 0, ...baseline });
    emit({ type: 'baseline', ...baseline });
  }
  if (state.step === 0 && config.evalEvery > 0) await runEval();
  const micro = config.batchSize;
  const accum = config.gradAccumulation;
  while (state.step < lastStep) {
    if (opts.shouldStop?.()) {
      reason = 'stopped';
      break;
    }
    const t0 = Date.now();
    const batches = Array.from({ length: accum }, (_, g) =>
      collateFor(model, stream.microBatch(state.step * accum + g, micro).map((i) => data.train[i]), prompt.length));
    // Every micro-batch is divided by the target tokens of the whole step, so accumulation equals one big batch.
    const normalizer = batches.reduce((n, b) => n + b.targets.length, 0);
    // The loss and the gradient norm stay on the device until one read at the end of the step: on a GPU that
    // is the step's only transfer back to the CPU.
    const { loss: lossSum, grads } = await runner.gradients(batches, normalizer);
    const norm = clipByGlobalNorm(grads, config.maxGradNorm);
    const lr = learningRate(config.lr, state.step, config.warmupSteps, config.steps);
    optimizer.step(grads, lr);
    tf.dispose([...grads.values()]);
    const both = tf.stack([lossSum, norm]);
    const [loss, gradNorm] = await both.data();
    tf.dispose([both, lossSum, norm]);
    // Stop at the first non-finite step: the update just made is not saved, the last checkpoint stays finite.
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) throw await divergence(config, model, state.step + 1, loss, gradNorm, checkpointedAt);
    state.step += 1;
    lastLoss = loss;

    const elapsedMs = Date.now() - sessionStart;
    const count = (m: Float32Array | undefined) => (m ? m.reduce((s, x) => s + x, 0) : 0);
    const tokens = batches.reduce((n, b) => n + count(b.mask) + count(b.decoder?.mask) + b.size * prompt.length, 0);
    const perStep = (Date.now() - loopStart) / (state.step - firstStep);
    const point = { step: state.step, loss, lr, gradNorm, tokens, tokensPerSecond: tokens / Math.max(1e-3, (Date.now() - t0) / 1000), elapsedMs };
    files.appendMetrics({ type: 'train', ...point });
    recent.push(point);
    if (recent.length > 21) recent.shift();
    // The ETA every reader computes from these points (etaFromPoints); the session's own pace until there are two.
    const etaMs = etaFromPoints(recent, config.steps) ?? perStep * (config.steps - state.step);
    emit({ type: 'step', ...point, totalSteps: config.steps, etaMs });

    const atEnd = state.step === config.steps;
    if (config.evalEvery > 0 ? state.step % config.evalEvery === 0 || atEnd : atEnd) await runEval();
    if (config.checkpointEvery > 0 && state.step % config.checkpointEvery === 0) await checkpoint();
    if (config.earlyStoppingPatience > 0 && state.evalsWithoutImprovement >= config.earlyStoppingPatience) {
      reason = 'early-stopped';
      emit({ type: 'log', level: 'info', message: `No improvement in ${metric} for ${state.evalsWithoutImprovement} evaluations: stopping early at step ${state.step}.` });
      break;
    }
    await new Promise((r) => setImmediate(r)); // let a Stop request (signal) arrive between steps
  }
  // However the loop ended (done, stopped, early-stopped), the run can be resumed from where it is.
  if (checkpointedAt !== state.step) await checkpoint();
  if (state.step < config.steps && reason === 'completed') reason = 'stopped';

  // The final adapter: the last state always, and at `out` the best evaluated one when there is validation data.
  await saveAdapter(files.file('final.ulpt'), state.bestMetrics && state.bestStep === state.step ? state.bestMetrics : {});
  const finished = reason !== 'stopped';
  let adapter: string | null = null;
  if (finished) {
    const source = state.bestStep !== null ? files.file('best.ulpt') : files.file('final.ulpt');
    // Checked again: something may have been put at `out` while the run trained.
    const problem = outPathProblem(config.out, opts.force, opts.fieldNames);
    if (problem) {
      emit({ type: 'log', level: 'warn', message: `${problem} The trained adapter stays in ${source}.` });
    } else {
      try {
        writeFileAtomic(config.out, fs.readFileSync(source));
      } catch (e) {
        const w = writeError(config.out, e);
        if (!(w instanceof WriteError)) throw w;
        throw new WriteError(w.file, w.code, `${w.message} (what was there is unchanged; the trained adapter is in ${source})`);
      }
      adapter = config.out;
      emit({ type: 'adapter', step: state.bestStep ?? state.step, path: config.out, reason: 'final' });
    }
  }
  const summary: RunSummary = {
    runDir: files.dir, steps: state.step, reason, adapter, bestStep: state.bestStep, best: state.bestMetrics, metric, baseline,
    final: lastLoss === null ? null : { loss: lastLoss }, trainableParameters: prompt.trainableParameters,
    seconds: (Date.now() - sessionStart) / 1000, backend: backendName, device, threads: runner.threads, warnings: warnings.length,
    ...(opts.backend.adapter ? { gpu: opts.backend.adapter } : {}),
  };
  writeFileAtomic(files.file('summary.json'), JSON.stringify(summary, null, 2) + '\n');
  emit({ type: 'finished', summary });
  return summary;
}
