// What a run was trained with — its settings, the contents of its data files and of its model folder — recorded in
// every checkpoint, so that a resume can tell whether it continues the same run. Changed data, weights or settings
// would silently make the resumed half a different experiment; the resume names what changed and refuses unless
// the user accepts it knowingly (`ulpt train --resume RUN_DIR --accept-changes`).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { taskMetric, type TaskConfig, type TrainConfig } from '../config';
import { dataFiles, hasGlob, splitGlob } from '../data/files';

export interface RunInputs {
  /** The settings that shape training (not where or on what it runs or writes: backend, threads, engine, out). */
  settings: Record<string, unknown>;
  /** Data file role ("train", "validation") → content digest. */
  data: Record<string, string>;
  /** Model folder file name → content digest (weights sampled, see fileDigest). */
  model: Record<string, string>;
}

/** Settings that do not change what is learned: a resume may change them freely. */
const FREE_SETTINGS = new Set(['backend', 'threads', 'out', 'engine']);

/** The model folder's files that define the model: weights, its config and tokenizer. */
const MODEL_FILE = /\.safetensors$|^(config|tokenizer|tokenizer_config|special_tokens_map|generation_config)\.json$|\.safetensors\.index\.json$|\.model$/;

/** Whole files up to this size are hashed; larger ones (model weights) are sampled: size, head, tail and 32 blocks. */
const WHOLE_FILE_BYTES = 64 * 1024 * 1024;
const SAMPLE_BYTES = 1024 * 1024;

/**
 * A digest of a file's content. Large files are sampled (their size, first and last MiB and 32 evenly spaced
 * 64 KiB blocks): another checkpoint, or fine-tuned weights, differ there, and a copy of the same file does not
 * read as a change (times and names are not part of it).
 */
export function fileDigest(file: string): string {
  const size = fs.statSync(file).size;
  const hash = createHash('sha256');
  if (size <= WHOLE_FILE_BYTES) return `sha256:${hash.update(fs.readFileSync(file)).digest('hex')}`;
  const fd = fs.openSync(file, 'r');
  try {
    const read = (at: number, length: number) => {
      const buf = Buffer.alloc(length);
      const n = fs.readSync(fd, buf, 0, length, at);
      hash.update(buf.subarray(0, n));
    };
    hash.update(String(size));
    read(0, SAMPLE_BYTES);
    read(size - SAMPLE_BYTES, SAMPLE_BYTES);
    for (let i = 1; i <= 32; i++) read(Math.floor((size * i) / 33), 64 * 1024);
  } finally {
    fs.closeSync(fd);
  }
  return `sampled-sha256:${hash.digest('hex')}`;
}

/**
 * A digest of what a data setting names: one file's fileDigest, or for a glob every matching file's name (below the
 * glob's fixed folder, so a moved cache reads the same) and digest, in reading order: a shard added, removed, renamed
 * or changed is a change.
 */
export function dataDigest(spec: string): string {
  const files = dataFiles(spec);
  if (!hasGlob(spec) || fs.existsSync(spec)) return fileDigest(files[0]);
  const { base } = splitGlob(spec);
  const lines = files.map((f) => `${path.relative(base, f).split(path.sep).join('/')}\t${fileDigest(f)}\n`);
  return `files-sha256:${createHash('sha256').update(lines.join('')).digest('hex')}`;
}

/** The inputs of a run with `config`; its model folder and data files must exist. */
export function runInputs(config: TrainConfig): RunInputs {
  const settings = Object.fromEntries(Object.entries(config).filter(([k]) => !FREE_SETTINGS.has(k)));
  const data: Record<string, string> = { train: dataDigest(config.train) };
  if (config.validation) data.validation = dataDigest(config.validation);
  const model: Record<string, string> = {};
  let names: string[] = [];
  try {
    names = fs.readdirSync(config.model).sort();
  } catch {
    /* a model given in memory (a sweep's) whose folder is gone: only the data and settings count */
  }
  for (const name of names) {
    const file = path.join(config.model, name);
    if (MODEL_FILE.test(name) && fs.statSync(file).isFile()) model[name] = fileDigest(file);
  }
  return { settings, data, model };
}

/**
 * Settings a resume may change without mixing two experiments: how long the run goes on and how often it is
 * evaluated and checkpointed (the steps already taken stay what they were). Their changes are reported, not refused.
 */
const SCHEDULE_SETTINGS = new Set(['steps', 'evalEvery', 'checkpointEvery', 'earlyStoppingPatience']);

const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));

/**
 * A setting as it would be resolved today: a checkpoint from before `task.metric` existed recorded the task
 * without it, and scored it by the default metric — the same task, not a changed one.
 */
function withDefaults(key: string, value: unknown): unknown {
  if (key !== 'task' || typeof value !== 'object' || value === null) return value;
  const task = value as TaskConfig;
  // Field order says nothing about the task (labels' order inside `labels` does, and is kept).
  return Object.fromEntries(Object.entries({ ...task, metric: taskMetric(task) }).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * What differs between the inputs a checkpoint was trained with and the current ones, one line each, in words:
 * `changed` would make the rest of the run another experiment; `noted` only changes how long it goes on.
 */
export function inputChanges(before: RunInputs, now: RunInputs): { changed: string[]; noted: string[] } {
  const lines: string[] = [];
  const noted: string[] = [];
  const keys = (a: object, b: object) => [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const k of keys(before.settings, now.settings)) {
    if (JSON.stringify(withDefaults(k, before.settings[k])) === JSON.stringify(withDefaults(k, now.settings[k]))) continue;
    (SCHEDULE_SETTINGS.has(k) ? noted : lines).push(`setting ${k}: ${show(before.settings[k])} → ${show(now.settings[k])}`);
  }
  for (const k of keys(before.data, now.data)) {
    if (before.data[k] !== now.data[k]) lines.push(`the ${k} data file's content changed${now.data[k] ? '' : ' (it is no longer given)'}`);
  }
  const model = keys(before.model, now.model).filter((k) => before.model[k] !== now.model[k]);
  if (model.length) lines.push(`the model changed (${model.map((k) => (now.model[k] === undefined ? `${k} is gone` : before.model[k] === undefined ? `${k} is new` : `${k} differs`)).join(', ')})`);
  return { changed: lines, noted };
}
