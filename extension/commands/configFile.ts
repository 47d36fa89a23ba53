// Training config files (ulpt.config.json, *.ulpt.json) and `ulpt` task definitions turned into a TrainConfig,
// without VS Code. Paths in a file are relative to the file; paths written inline in a task are relative to its
// workspace folder. Every problem names the file (and the line, for bad JSON).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackendName } from '../../src/backend';
import { ConfigError, resolveConfig, type Engine, type TrainConfig } from '../../src/config';
import { dataPresent } from '../../src/data/files';
import { isHubDataRef, isHubModelRef } from '../../src/hub/refs';

/** JSON.parse with an error that says where: "ulpt.config.json, line 3, column 5: Expected ',' …". */
export function parseJsonText(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const message = (e as Error).message;
    const pos = /at position (\d+)/.exec(message);
    let where = '';
    if (pos) {
      const before = text.slice(0, Number(pos[1]));
      const line = before.split('\n').length;
      where = `, line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
    }
    throw new ConfigError(`${file}${where} is not valid JSON: ${message.replace(/\s*in JSON at position \d+.*$/, '')}.`);
  }
}

/** Task and quick-pick overrides: the config fields a task definition may set inline. */
export const TASK_FIELDS = ['model', 'preset', 'train', 'validation', 'validationSplit', 'method', 'rank', 'promptLength', 'steps', 'lr', 'batchSize', 'evalEvery', 'checkpointEvery', 'maxLength', 'seed', 'out', 'backend', 'task'] as const;
const PATH_FIELDS = new Set(['model', 'train', 'validation', 'out']);

export interface UlptTaskDefinition {
  type: 'ulpt';
  /** A training config file, relative to the workspace folder. */
  config?: string;
  /** A run folder to resume (relative to the workspace folder); everything else is then ignored. */
  resume?: string;
  [field: string]: unknown;
}

export interface ConfigSource {
  config: TrainConfig;
  /** Where it came from, for messages: a file path or "the task …". */
  source: string;
  /** The name the run folder gets (the adapter's file name without .ulpt). */
  runName: string;
}

/**
 * Reads a config file (or uses `text`, e.g. an unsaved editor), fills the backend from the settings when the file
 * does not name one, resolves and validates it, and checks that the model folder and data files exist.
 */
export function loadConfigFile(file: string, opts: { text?: string; defaultBackend: BackendName; defaultEngine?: Engine; overrides?: Record<string, unknown> }): ConfigSource {
  const text = opts.text ?? readText(file);
  const raw = parseJsonText(text, file);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${file} must hold a JSON object with at least "model" and "train".`);
  const merged: Record<string, unknown> = { ...(raw as Record<string, unknown>), ...(opts.overrides ?? {}) };
  if (merged.backend === undefined) merged.backend = opts.defaultBackend;
  if (merged.engine === undefined && opts.defaultEngine) merged.engine = opts.defaultEngine; // the ulpt.engine setting
  const config = resolveConfig(merged, path.dirname(file), file);
  checkInputs(config, file);
  return { config, source: file, runName: path.basename(config.out).replace(/\.ulpt$/, '') };
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`The training config ${file} could not be read: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (e as Error).message}.`);
  }
}

/** The config a `ulpt` task definition describes: its file (if any) with the inline fields on top. */
export function taskConfig(def: UlptTaskDefinition, folder: string, defaultBackend: BackendName, readFile?: (file: string) => string | undefined, defaultEngine?: Engine): ConfigSource {
  const inline: Record<string, unknown> = {};
  for (const k of TASK_FIELDS) {
    const v = def[k];
    if (v === undefined) continue;
    inline[k] = PATH_FIELDS.has(k) && typeof v === 'string' ? path.resolve(folder, v) : v;
  }
  if (def.config) {
    const file = path.resolve(folder, def.config);
    return loadConfigFile(file, { text: readFile?.(file), defaultBackend, defaultEngine, overrides: inline });
  }
  const source = `the ulpt task in ${path.join(folder, '.vscode', 'tasks.json')}`;
  if (inline.model === undefined || (inline.train === undefined && inline.preset === undefined)) {
    throw new ConfigError(`${source} needs either "config" (a training config file) or at least "model" and "train" (or "preset").`);
  }
  if (inline.backend === undefined) inline.backend = defaultBackend;
  if (inline.engine === undefined && defaultEngine) inline.engine = defaultEngine;
  const config = resolveConfig(inline, folder, source);
  checkInputs(config, source);
  return { config, source, runName: path.basename(config.out).replace(/\.ulpt$/, '') };
}

/** The files a run needs, checked before a process is started for it. */
export function checkInputs(config: TrainConfig, source: string): void {
  const missing: string[] = [];
  // Hub references (org/name[@rev], hf://datasets/…) are fetched or taken from the cache by the trainer.
  if (isHubModelRef(config.model)) { /* resolved by the trainer */ }
  else if (!fs.existsSync(config.model) || !fs.statSync(config.model).isDirectory()) missing.push(`model folder ${config.model}`);
  else if (!fs.existsSync(path.join(config.model, 'config.json'))) missing.push(`${path.join(config.model, 'config.json')} (the model folder needs a Hugging Face config.json)`);
  // A glob (data/train-*.parquet) is there when it matches a file.
  if (!isHubDataRef(config.train) && !dataPresent(config.train)) missing.push(`training data ${config.train}`);
  if (config.validation && !isHubDataRef(config.validation) && !dataPresent(config.validation)) missing.push(`validation data ${config.validation}`);
  if (missing.length) throw new ConfigError(`${source}: ${missing.length === 1 ? 'this does' : 'these do'} not exist: ${missing.join('; ')}.`);
}
