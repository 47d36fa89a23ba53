// "ULPT: Train Prompt Adapter…": a short run of quick picks that ends in a resolved TrainConfig. Dataset → model →
// method → task type (guessed from the fields) → steps → run name. Escape at any step cancels without a trace.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { resolveConfig, type TaskType, type TrainConfig } from '../src/config';
import { readRecords } from '../src/data/readers';
import {
  DATASET_EXTENSIONS, DATASET_GLOB, SEARCH_EXCLUDE, METHOD_PRESETS, defaultRunName, findCachedModels, findValidationFile, guessTask, hfHubCacheDir,
  isDatasetFile, isModelFolder, type MethodPreset,
} from './discovery';
import { folderDescription } from './pickers';
import { newRunId, safeName } from './runStore';
import { UserError, type Studio } from './studio';

export interface TrainingSetup {
  config: TrainConfig;
  runDir: string;
  name: string;
}

type Item<T> = vscode.QuickPickItem & { value?: T };
const BROWSE = '$(folder-opened) Browse…';

async function pick<T>(items: Item<T>[], title: string, placeHolder: string): Promise<Item<T> | undefined> {
  return vscode.window.showQuickPick(items, { title, placeHolder, matchOnDescription: true, matchOnDetail: true, ignoreFocusOut: true });
}

const TITLE = (n: number) => `Train Prompt Adapter (${n}/6)`;

async function pickDataset(): Promise<{ file: string; all: string[] } | undefined> {
  const uris = await vscode.workspace.findFiles(DATASET_GLOB, SEARCH_EXCLUDE, 2000);
  const all = uris.map((u) => u.fsPath).filter(isDatasetFile).sort((a, b) => Number(/train/i.test(path.basename(b))) - Number(/train/i.test(path.basename(a))) || a.localeCompare(b));
  const items: Item<string>[] = all.map((f) => ({ label: `$(file) ${path.basename(f)}`, description: folderDescription(path.dirname(f)), value: f }));
  items.push({ label: BROWSE });
  const chosen = await pick(items, TITLE(1), 'Training data (.jsonl, .json, .csv, .tsv, .parquet)');
  if (!chosen) return undefined;
  if (chosen.value) return { file: chosen.value, all };
  const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Datasets': [...DATASET_EXTENSIONS] }, openLabel: 'Train on This' });
  return picked?.[0] ? { file: picked[0].fsPath, all } : undefined;
}

async function pickModel(): Promise<string | undefined> {
  const configs = await vscode.workspace.findFiles('**/config.json', SEARCH_EXCLUDE, 500);
  const local = [...new Set(configs.map((u) => path.dirname(u.fsPath)))].filter(isModelFolder).sort();
  const cacheDir = hfHubCacheDir();
  const cached = findCachedModels(cacheDir);
  const items: Item<string>[] = [];
  if (local.length) {
    items.push({ label: 'Workspace', kind: vscode.QuickPickItemKind.Separator });
    items.push(...local.map((d) => ({ label: `$(folder) ${path.basename(d)}`, description: folderDescription(d), detail: modelDetail(d), value: d })));
  }
  if (cached.length) {
    items.push({ label: `Hugging Face cache (${cacheDir})`, kind: vscode.QuickPickItemKind.Separator });
    items.push(...cached.map((m) => ({ label: `$(database) ${m.repo}`, description: m.revision.slice(0, 10), detail: modelDetail(m.path), value: m.path })));
  }
  items.push({ label: '', kind: vscode.QuickPickItemKind.Separator }, { label: BROWSE, detail: 'A folder with config.json, *.safetensors and tokenizer.json' });
  const chosen = await pick(items, TITLE(2), local.length || cached.length ? 'Frozen model' : `No model folders in the workspace or in ${cacheDir}: browse for one`);
  if (!chosen) return undefined;
  if (chosen.value) return chosen.value;
  const picked = await vscode.window.showOpenDialog({ canSelectFiles: false, canSelectFolders: true, canSelectMany: false, openLabel: 'Use This Model' });
  if (!picked?.[0]) return undefined;
  const dir = picked[0].fsPath;
  if (!isModelFolder(dir)) throw new UserError(`${dir} is not a Hugging Face model folder: it needs config.json and the weights as *.safetensors.`);
  return dir;
}

function modelDetail(dir: string): string | undefined {
  try {
    const c = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const d = c.hidden_size ?? c.n_embd ?? c.d_model;
    const layers = c.num_hidden_layers ?? c.n_layer ?? c.num_layers;
    return [c.model_type, d !== undefined ? `d=${d}` : '', layers !== undefined ? `${layers} layers` : ''].filter(Boolean).join(' · ');
  } catch {
    return undefined;
  }
}

async function pickMethod(): Promise<MethodPreset | undefined> {
  const items: Item<MethodPreset>[] = METHOD_PRESETS.map((p, i) => ({ label: p.label, description: i === 0 ? 'recommended' : undefined, detail: p.detail, value: p }));
  return (await pick(items, TITLE(3), 'Method'))?.value;
}

async function pickTask(fields: string[]): Promise<{ type: TaskType; inputField: string; targetField: string } | undefined> {
  const guess = guessTask(fields);
  const types: TaskType[] = guess?.type === 'classification' ? ['classification', 'generation'] : ['generation', 'classification'];
  const detail: Record<TaskType, string> = {
    classification: 'Pick one of a fixed set of labels (accuracy, macro F1)',
    generation: 'Produce the target text (exact match)',
  };
  const items: Item<TaskType>[] = types.map((t) => ({ label: t, description: guess?.type === t ? `guessed: ${guess.reason}` : undefined, detail: detail[t], value: t }));
  const chosen = await pick(items, TITLE(4), `Task type (fields: ${fields.join(', ')})`);
  if (!chosen?.value) return undefined;
  const type = chosen.value;
  const wanted = type === 'classification' ? 'label' : 'target';
  let targetField = guess && guess.type === type ? guess.targetField : fields.includes(wanted) ? wanted : '';
  if (!targetField) {
    const t = await pick(fields.map((f) => ({ label: f, value: f })), TITLE(4), `Which field holds the ${type === 'classification' ? 'label' : 'target text'}?`);
    if (!t?.value) return undefined;
    targetField = t.value;
  }
  let inputField = guess?.inputField && guess.inputField !== targetField ? guess.inputField : fields.find((f) => f === 'input') ?? '';
  if (!inputField) {
    const i = await pick(fields.filter((f) => f !== targetField).map((f) => ({ label: f, value: f })), TITLE(4), 'Which field holds the input text?');
    if (!i?.value) return undefined;
    inputField = i.value;
  }
  return { type, inputField, targetField };
}

async function askSteps(): Promise<number | undefined> {
  const v = await vscode.window.showInputBox({
    title: TITLE(5), prompt: 'Optimiser steps', value: '200', ignoreFocusOut: true,
    validateInput: (s) => (/^\s*[1-9]\d*\s*$/.test(s) && Number(s) <= 10_000_000 ? null : 'A whole number of steps, at least 1'),
  });
  return v === undefined ? undefined : Number(v);
}

async function askName(suggestion: string): Promise<string | undefined> {
  const v = await vscode.window.showInputBox({
    title: TITLE(6), prompt: 'Run name (the run folder and the default adapter file name)', value: suggestion, ignoreFocusOut: true,
    validateInput: (s) => (s.trim() ? null : 'A name, please'),
  });
  return v === undefined ? undefined : safeName(v);
}

async function readFields(file: string): Promise<{ fields: string[]; count: number }> {
  const records = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Reading ${path.basename(file)}` }, () => readRecords(file));
  if (!records.length) throw new UserError(`${file} has no records to train on.`);
  return { fields: Object.keys(records[0].fields), count: records.length };
}

/** Asks the questions; undefined when the user cancels. */
export async function trainingSetupFromQuestions(studio: Studio): Promise<TrainingSetup | undefined> {
  if (!vscode.workspace.workspaceFolders?.length) throw new UserError('Open a folder first: runs are kept in its .ulpt/runs folder.');
  const dataset = await pickDataset();
  if (!dataset) return undefined;
  const { fields, count } = await readFields(dataset.file);
  const model = await pickModel();
  if (!model) return undefined;
  const preset = await pickMethod();
  if (!preset) return undefined;
  const task = await pickTask(fields);
  if (!task) return undefined;
  const steps = await askSteps();
  if (!steps) return undefined;
  const name = await askName(defaultRunName(dataset.file, preset));
  if (!name) return undefined;

  const root = studio.rootFor(dataset.file);
  const runDir = path.join(studio.runsDir(root), newRunId(name));
  const validation = findValidationFile(dataset.file, dataset.all);
  // Evaluate and checkpoint about ten times per run (at most every 50 steps).
  const every = Math.max(1, Math.min(50, Math.round(steps / 10)));
  const raw = {
    model,
    train: dataset.file,
    ...(validation ? { validation } : { validationSplit: count >= 20 ? 0.1 : 0 }),
    method: preset.method,
    ...(preset.method === 'ulpt' ? { rank: preset.rank } : {}),
    steps,
    evalEvery: every,
    checkpointEvery: every,
    backend: studio.defaultBackend(),
    task,
    // The run keeps its adapter; "Save Adapter…" puts a copy into the project where the user wants it.
    out: path.join(runDir, 'adapter.ulpt'),
  };
  // maxLength stays unset: the trainer fits it to the model's context after the virtual tokens.
  const config = resolveConfig(raw, root, 'the training settings');
  return { config, runDir, name };
}
