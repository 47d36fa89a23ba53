// "ULPT: Train Prompt Adapter…": quick picks and input boxes that end in a resolved TrainConfig. Dataset → the
// workspace's config files that train on it (take one and train it as it is) → model → method → task type →
// prompt template (with one record filled in and tokenized as you type) → label words (classification; a word of
// several tokens is flagged) → steps → run name → train, or save the answers as a *.ulpt.json first. What it does
// not ask comes from settings that worked on the shipped example (discovery.ts). Escape at any step cancels.
// "Start from a paper task preset…" in the first step skips the data, task, template and label steps: the preset
// (src/presets/) names the Hub data and fills them in, and the saved config says `preset`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { resolveConfig, type TaskType, type TrainConfig } from '../../src/config';
import { resolveLabels } from '../../src/data/examples';
import { createFileExclusive } from '../../src/io/atomic';
import { readRecords, type DataRecord } from '../../src/data/readers';
import { fillTemplate, templateFields } from '../../src/data/template';
import { newRunId, safeName } from '../runs/runStore';
import { UserError, type Studio } from '../studio';
import {
  configsUsingDataset, DATASET_EXTENSIONS, DATASET_GLOB, defaultRunName, defaultTemplate, findCachedModels, findValidationFile, guessTask,
  hfHubCacheDir, hubRunName, isDatasetFile, isModelFolder, METHOD_PRESETS, SEARCH_EXCLUDE, verbalizer, WIZARD_DEFAULTS, type MethodPreset,
} from './discovery';
import { folderDescription } from './pickers';
import { TokenizerClient, type Tokenized } from './tokenizer';
import { configFileText, describeLabelWord, freeFileName, showTokens } from './wizardText';
import { checkPythonAsync, enginePackageDir, findPython, torchDevicesText } from '../../src/engine/python';
import { CATALOG, catalogFit, parameterText } from '../../src/hub/catalog';
import { gb } from '../../src/hub/download';
import { DATASET_PREFIX, parseDatasetRef, parseModelRef, splitSiblingRef } from '../../src/hub/refs';
import { downloadModel, HubError, resolveDataRef, type ResolveOptions } from '../../src/hub/resolve';
import { PRESETS, type Preset } from '../../src/presets';

export type TrainingSetup =
  | { kind: 'run'; config: TrainConfig; runDir: string; name: string; savedConfig: string | null }
  /** The user chose an existing config file: train it as it is. */
  | { kind: 'config'; file: string }
  /** A job for a cluster: the saved config, to export. */
  | { kind: 'job'; file: string };

type Item<T> = vscode.QuickPickItem & { value?: T };
const BROWSE = '$(folder-opened) Browse…';
const PRESET = '$(beaker) Start from a paper task preset…';
const STEPS = 10;
const TITLE = (n: number) => `Train Prompt Adapter (${n}/${STEPS})`;

async function pick<T>(items: Item<T>[], title: string, placeHolder: string): Promise<Item<T> | undefined> {
  return vscode.window.showQuickPick(items, { title, placeHolder, matchOnDescription: true, matchOnDetail: true, ignoreFocusOut: true });
}

// ---- 1. Dataset, and the config files that already train on it

/** `file`: what the readers take (a Hub dataset's cached file or glob); `ref`: the hf:// path the config keeps, for Hub data. */
async function pickDataset(): Promise<{ file: string; all: string[]; ref?: string; validationRef?: string } | { preset: Preset } | undefined> {
  const uris = await vscode.workspace.findFiles(DATASET_GLOB, SEARCH_EXCLUDE, 2000);
  const all = uris.map((u) => u.fsPath).filter(isDatasetFile).sort((a, b) => Number(/train/i.test(path.basename(b))) - Number(/train/i.test(path.basename(a))) || a.localeCompare(b));
  const items: Item<string>[] = all.map((f) => ({ label: `$(file) ${path.basename(f)}`, description: folderDescription(path.dirname(f)), value: f }));
  items.push({ label: HUB_DATA, detail: 'hf://datasets/ORG/NAME[@REVISION]/PATH: a Parquet file, or a glob of shards (data/train-*.parquet), downloaded into the Hugging Face cache' });
  items.push({ label: BROWSE }, { label: PRESET, detail: 'GLUE, SuperGLUE, MRQA, WinoGrande, Yelp-2, SciTail, PAWS, GSM8K: the Hub data, template, label words and metric filled in' });
  const chosen = await pick(items, TITLE(1), 'Training data (.jsonl, .json, .csv, .tsv, .parquet)');
  if (!chosen) return undefined;
  if (chosen.value) return { file: chosen.value, all };
  if (chosen.label === HUB_DATA) return pickHubDataset(all);
  if (chosen.label === PRESET) {
    const preset = await pickPreset();
    return preset ? { preset } : undefined;
  }
  const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Datasets': [...DATASET_EXTENSIONS] }, openLabel: 'Train on This' });
  return picked?.[0] ? { file: picked[0].fsPath, all } : undefined;
}

const HUB_DATA = '$(cloud-download) A Hugging Face Hub dataset (hf://datasets/…)…';

/**
 * An hf://datasets/… path typed in, downloaded (every file of a glob) with progress and Cancel; the config keeps the
 * path. A train split's validation split beside it (…/validation-*.parquet for …/train-*.parquet) comes too.
 */
async function pickHubDataset(all: string[]): Promise<{ file: string; all: string[]; ref: string; validationRef?: string } | undefined> {
  const ref = (await vscode.window.showInputBox({
    title: TITLE(1), prompt: 'A Hugging Face Hub dataset file or glob: hf://datasets/ORG/NAME[@REVISION]/PATH (the files of a glob are read as one dataset, in path order)',
    placeHolder: 'hf://datasets/nyu-mll/glue/rte/train-00000-of-00001.parquet', ignoreFocusOut: true,
    validateInput: (v) => (parseDatasetRef(v.trim()) ? undefined : 'Write hf://datasets/ORG/NAME/PATH, or hf://datasets/ORG/NAME@REVISION/PATH (PATH may hold * and **).'),
  }))?.trim();
  if (!ref) return undefined;
  const sibling = splitSiblingRef(ref, 'validation');
  const got = await downloadWithProgress(ref.slice(DATASET_PREFIX.length), async (o) => {
    const train = await resolveDataRef(ref, o);
    // Only "there is no such file" means no validation split; any other failure is the download's to report.
    const validation = sibling && (await resolveDataRef(sibling, o).then(() => sibling, (e: unknown) => (e instanceof HubError && e.kind === 'not-found' ? undefined : Promise.reject(e))));
    return { train, validation };
  });
  return got ? { file: got.train.file, all, ref, ...(got.validation ? { validationRef: got.validation } : {}) } : undefined;
}

/** The paper's tasks (src/presets/), with their dataset, metric and split sizes. */
async function pickPreset(): Promise<Preset | undefined> {
  const items: Item<Preset>[] = PRESETS.map((p) => ({
    label: p.name,
    description: `${p.dataset}${p.filter ? ` (${Object.values(p.filter).join(', ')})` : ''} · ${p.task.type} · ${p.task.metric}`,
    detail: `${p.sizes.train.toLocaleString('en-US')} training examples, ${p.sizes.validation.toLocaleString('en-US')} evaluated (${p.validationSplit} split) · template ${JSON.stringify(p.task.template)}`,
    value: p,
  }));
  return (await pick(items, TITLE(1), 'A task of the ULPT paper: its data comes from the Hugging Face Hub when training starts'))?.value;
}

const NEW_RUN = 'new';

/** The config files that train on `dataset`: pick one to train it as it is, or set up a new run. Undefined: cancelled. */
async function pickExistingConfig(dataset: string): Promise<string | typeof NEW_RUN | undefined> {
  const files = (await vscode.workspace.findFiles('**/{ulpt.config.json,*.ulpt.json}', SEARCH_EXCLUDE, 200)).map((u) => u.fsPath).sort();
  const open = (f: string) => vscode.workspace.textDocuments.find((d) => d.uri.fsPath === f)?.getText() ?? fs.readFileSync(f, 'utf8');
  const using = configsUsingDataset(files, dataset, open);
  if (!using.length) return NEW_RUN;
  const items: Item<string>[] = using.map(({ file, config }) => {
    const task = (config.task ?? {}) as Record<string, unknown>;
    const method = config.method === 'prompt-tuning' ? 'prompt tuning' : `ULPT r=${(config.rank as number | undefined) ?? 2}`;
    return {
      label: `$(settings-gear) ${path.basename(file)}`,
      description: [method, `${(config.steps as number | undefined) ?? 200} steps`, `lr ${(config.lr as number | undefined) ?? 0.01}`].join(' · '),
      detail: [
        folderDescription(path.dirname(file)), // empty at the workspace's top
        `template ${JSON.stringify(task.template ?? '{input}')}`,
        task.labels ? `labels ${Object.values(task.labels as Record<string, string>).map((w) => JSON.stringify(w)).join(', ')}` : '',
      ].filter(Boolean).join(' · '),
      value: file,
    };
  });
  items.push({ label: '', kind: vscode.QuickPickItemKind.Separator }, { label: '$(add) Set up a new run…', detail: 'Choose the model, method, template and label words', value: NEW_RUN });
  const chosen = await pick(items, TITLE(1), `${using.length === 1 ? 'A config file trains' : `${using.length} config files train`} on ${path.basename(dataset)}: use one as it is, or set up a new run`);
  return chosen?.value;
}

// ---- 2–4. Model, method, task type

/** The chosen model: its local folder (the tokenizer preview reads it) and what the config names (a Hub id or the folder). */
interface ModelChoice {
  dir: string;
  ref: string;
}

const HUB_ID = '$(search) Another Hugging Face model id…';

async function pickModel(): Promise<ModelChoice | undefined> {
  const configs = await vscode.workspace.findFiles('**/config.json', SEARCH_EXCLUDE, 500);
  const local = [...new Set(configs.map((u) => path.dirname(u.fsPath)))].filter(isModelFolder).sort();
  const cacheDir = hfHubCacheDir();
  const cached = findCachedModels(cacheDir);
  const items: Item<ModelChoice | string>[] = [];
  if (local.length) {
    items.push({ label: 'Workspace', kind: vscode.QuickPickItemKind.Separator });
    items.push(...local.map((d) => ({ label: `$(folder) ${path.basename(d)}`, description: folderDescription(d), detail: modelDetail(d), value: { dir: d, ref: d } })));
  }
  if (cached.length) {
    items.push({ label: `Hugging Face cache (${cacheDir})`, kind: vscode.QuickPickItemKind.Separator });
    items.push(...cached.map((m) => ({ label: `$(database) ${m.repo}`, description: m.revision.slice(0, 10), detail: modelDetail(m.path), value: { dir: m.path, ref: m.repo } })));
  }
  // The catalog: models the engines train, downloaded into the same cache on demand (those cached are listed above).
  const have = new Set(cached.map((m) => m.repo));
  const offer = CATALOG.filter((m) => !have.has(m.id));
  if (offer.length) {
    items.push({ label: 'Download from the Hugging Face Hub', kind: vscode.QuickPickItemKind.Separator });
    items.push(...offer.map((m) => {
      const fit = catalogFit(m, null);
      return { label: `$(cloud-download) ${m.id}`, description: `${parameterText(m.parameters)} parameters · ${m.modelType}${m.gated ? ' · gated' : ''}`, detail: `${m.note} — ${fit.builtin.note}; any model: the PyTorch engine`, value: m.id };
    }));
  }
  items.push({ label: '', kind: vscode.QuickPickItemKind.Separator }, { label: HUB_ID, detail: 'org/name or org/name@revision, from the Hub (HF_ENDPOINT, HF_TOKEN) into the Hugging Face cache', value: '' }, { label: BROWSE, detail: 'A folder with config.json, *.safetensors and tokenizer.json' });
  const chosen = await pick(items, TITLE(2), 'Frozen model');
  if (!chosen) return undefined;
  if (typeof chosen.value === 'object') return chosen.value;
  if (typeof chosen.value === 'string') {
    const id = chosen.value || (await vscode.window.showInputBox({
      title: TITLE(2), prompt: 'A Hugging Face Hub model id (org/name, or org/name@revision): downloaded into the Hugging Face cache, safetensors only',
      placeHolder: 'HuggingFaceTB/SmolLM2-135M', ignoreFocusOut: true, validateInput: (v) => (parseModelRef(v.trim()) ? undefined : 'Write org/name or org/name@revision.'),
    }))?.trim();
    if (!id) return undefined;
    const snapshot = await downloadWithProgress(id, (o) => downloadModel(id, o));
    return snapshot ? { dir: snapshot.dir, ref: id } : undefined;
  }
  const picked = await vscode.window.showOpenDialog({ canSelectFiles: false, canSelectFolders: true, canSelectMany: false, openLabel: 'Use This Model' });
  if (!picked?.[0]) return undefined;
  const dir = picked[0].fsPath;
  if (!isModelFolder(dir)) throw new UserError(`${dir} is not a Hugging Face model folder: it needs config.json and the weights as *.safetensors.`);
  return { dir, ref: dir };
}

/**
 * Downloads a Hub model or dataset (`download`, given the options to pass on) into the Hugging Face cache with a
 * progress notification (bytes, speed, time left) and Cancel. A cancelled or failed download leaves the cache
 * consistent (only whole, verified files are placed) and the next attempt resumes where it stopped. Returns what
 * `download` returned, or undefined when cancelled.
 */
async function downloadWithProgress<T>(id: string, download: (o: ResolveOptions) => Promise<T>): Promise<T | undefined> {
  const title = `ULPT: downloading ${id} from the Hugging Face Hub`;
  try {
    return await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      const t0 = Date.now();
      let shown = 0;
      return await download({
        signal: abort.signal,
        onProgress: (p) => {
          const pct = p.totalBytes ? (100 * p.bytes) / p.totalBytes : 0;
          const seconds = (Date.now() - t0) / 1000;
          const speed = seconds > 0.5 ? p.bytes / seconds : 0;
          const left = speed > 0 ? (p.totalBytes - p.bytes) / speed : 0;
          progress.report({ increment: pct - shown, message: `${gb(p.bytes)} of ${gb(p.totalBytes)}${speed ? ` · ${gb(speed)}/s · ${Math.ceil(left)} s left` : ''} · ${p.file}` });
          shown = pct;
        },
      });
    });
  } catch (e) {
    if ((e as { kind?: string }).kind === 'cancelled' || (e as Error).name === 'AbortError') {
      void vscode.window.showInformationMessage(`ULPT: the download of ${id} was cancelled; what arrived is kept, and the next attempt resumes from there.`);
      return undefined;
    }
    throw new UserError((e as Error).message);
  }
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
  const items: Item<MethodPreset>[] = METHOD_PRESETS.map((p, i) => ({ label: p.label, description: `${i === 0 ? 'recommended · ' : ''}lr ${p.lr}`, detail: p.detail, value: p }));
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

// ---- 5. The template, previewed on one record

async function askTemplate(records: DataRecord[], task: { type: TaskType; inputField: string; targetField: string }, model: string, tokenizer: TokenizerClient): Promise<string | undefined> {
  const record = records[0];
  const fields = Object.keys(record.fields);
  const box = vscode.window.createInputBox();
  box.title = TITLE(5);
  box.placeholder = 'Prompt template, e.g. input: {input} output:';
  box.value = defaultTemplate(task.inputField);
  box.ignoreFocusOut = true;
  const target = String(record.fields[task.targetField] ?? '');
  let seq = 0;
  let valid = false;
  const preview = async (template: string) => {
    const mine = ++seq;
    let text: string;
    try {
      if (!templateFields(template).length) throw new Error(`The template uses no field: write {${task.inputField}} where the input goes (fields: ${fields.join(', ')}).`);
      text = fillTemplate(template, record.fields, record.where);
    } catch (e) {
      valid = false;
      box.validationMessage = (e as Error).message;
      box.prompt = '';
      return;
    }
    valid = true;
    box.validationMessage = undefined;
    box.prompt = `Record 1: ${JSON.stringify(text)} — tokenizing…`;
    try {
      const answer = task.type === 'classification' ? verbalizer(target, template) : target;
      const [tokens, answerTokens] = await tokenizer.tokenize(model, [text, answer]);
      if (mine !== seq) return;
      box.prompt = `Record 1: ${JSON.stringify(text)} → ${tokens.ids.length} tokens ${showTokens(tokens.pieces)}, then the ${task.type === 'classification' ? 'label' : 'target'} ${JSON.stringify(answer)} (${answerTokens.ids.length} token${answerTokens.ids.length === 1 ? '' : 's'})`;
    } catch (e) {
      if (mine === seq) box.prompt = `Record 1: ${JSON.stringify(text)} (could not tokenize: ${(e as Error).message})`;
    }
  };
  return new Promise<string | undefined>((resolve) => {
    let done = false;
    const finish = (v: string | undefined) => {
      if (done) return;
      done = true;
      resolve(v);
      box.dispose();
    };
    box.onDidChangeValue((v) => void preview(v));
    box.onDidAccept(() => {
      if (valid) finish(box.value);
    });
    box.onDidHide(() => finish(undefined));
    box.show();
    void preview(box.value);
  });
}

// ---- 6. Label words (classification)

interface LabelWord {
  name: string;
  /** What the model learns to write: the word as typed, with the separator verbalizer() adds. */
  text: string;
  tokens: Tokenized | null;
}

async function tokenizeWords(words: LabelWord[], model: string, tokenizer: TokenizerClient): Promise<void> {
  try {
    const res = await tokenizer.tokenize(model, words.map((w) => w.text));
    words.forEach((w, i) => (w.tokens = res[i]));
  } catch {
    words.forEach((w) => (w.tokens = null));
  }
}

async function askLabels(records: DataRecord[], task: { type: TaskType; inputField: string; targetField: string }, template: string, model: string, tokenizer: TokenizerClient): Promise<Record<string, string> | undefined> {
  const { names } = resolveLabels({ ...task, template }, records);
  const words: LabelWord[] = names.map((name) => ({ name, text: verbalizer(name, template), tokens: null }));
  await tokenizeWords(words, model, tokenizer);
  type Choice = Item<number | 'accept'>;
  for (;;) {
    const items: Choice[] = [{ label: '$(check) Use these label words', value: 'accept', detail: `The model learns to write the word of each label right after the prompt; the most likely word is the prediction.` }];
    for (const [i, w] of words.entries()) {
      const d = describeLabelWord(w);
      items.push({ label: `${d.warning ? '$(warning) ' : ''}${w.name}`, description: d.description, value: i });
    }
    const several = words.filter((w) => (w.tokens?.ids.length ?? 1) !== 1).length;
    const chosen = await pick(items, TITLE(6), `Label words (${words.length} labels${several ? `; ${several} of several tokens` : ''}): pick a label to change its word`);
    if (!chosen) return undefined;
    if (chosen.value === 'accept') return Object.fromEntries(words.map((w) => [w.name, w.text]));
    const w = words[chosen.value as number];
    const typed = await vscode.window.showInputBox({
      title: TITLE(6),
      prompt: `The word the model writes for label "${w.name}" (a separating space is added after a template that does not end in one)`,
      value: w.text.trimStart(),
      ignoreFocusOut: true,
      validateInput: (s) => (s.trim() ? null : 'A word, please'),
    });
    if (typed === undefined) continue;
    w.text = verbalizer(typed, template);
    await tokenizeWords([w], model, tokenizer);
  }
}

// ---- 7–10. Steps, name, and what to do with the answers

async function askSteps(): Promise<number | undefined> {
  const v = await vscode.window.showInputBox({
    title: TITLE(7), prompt: `Optimiser steps (batch ${WIZARD_DEFAULTS.batchSize}, ${WIZARD_DEFAULTS.promptLength} virtual tokens)`, value: String(WIZARD_DEFAULTS.steps), ignoreFocusOut: true,
    validateInput: (s) => (/^\s*[1-9]\d*\s*$/.test(s) && Number(s) <= 10_000_000 ? null : 'A whole number of steps, at least 1'),
  });
  return v === undefined ? undefined : Number(v);
}

async function askName(suggestion: string): Promise<string | undefined> {
  const v = await vscode.window.showInputBox({
    title: TITLE(8), prompt: 'Run name (shown with the method and a short suffix, and the default adapter file name)', value: suggestion, ignoreFocusOut: true,
    validateInput: (s) => (s.trim() ? null : 'A name, please'),
  });
  return v === undefined ? undefined : safeName(v);
}

type Finish = 'train' | 'save-train' | 'save';

type Where = 'builtin' | 'torch' | 'job';

/** What the PyTorch engine would run on here, found without blocking the window (its Python starts once). */
async function probeTorchEngine(studio: Studio): Promise<{ ok: true; text: string } | { ok: false; text: string }> {
  try {
    const report = await checkPythonAsync(findPython(studio.launchSettings().pythonPath || undefined, enginePackageDir()));
    return { ok: true, text: `found: ${report.python} · torch ${report.versions.torch} · ${torchDevicesText(report)}` };
  } catch (e) {
    return { ok: false, text: (e as Error).message };
  }
}

/** Where the run trains: here on either engine, or a job folder for a cluster; says what it found for PyTorch. */
async function askWhere(studio: Studio): Promise<Where | undefined> {
  const box = vscode.window.createQuickPick<Item<Where>>();
  box.title = TITLE(9);
  box.placeholder = 'Where to train';
  box.ignoreFocusOut = true;
  const torchItem = (found: string, ok: boolean | null): Item<Where> => ({
    label: '$(flame) Here, on the PyTorch engine', description: ok === null ? 'looking for Python with torch…' : ok ? found : 'not available',
    detail: ok === false ? found : 'Any model transformers loads; CUDA, Apple MPS or the CPU (ulpt.pythonPath picks the Python)', value: 'torch',
  });
  const items = (torch: Item<Where>): Item<Where>[] => [
    { label: '$(vm) Here, on the built-in engine', description: 'TensorFlow.js: WebGPU, WASM or CPU', detail: 'Needs nothing installed', value: 'builtin' },
    torch,
    { label: '$(server) A job for a cluster', description: 'export-job: torchrun, SLURM', detail: 'Saves the config and writes a folder to copy to a cluster; nothing trains here', value: 'job' },
  ];
  box.items = items(torchItem('', null));
  box.busy = true;
  const preferred = studio.defaultEngine();
  box.activeItems = box.items.filter((i) => i.value === preferred);
  let probed: Awaited<ReturnType<typeof probeTorchEngine>> | null = null;
  void probeTorchEngine(studio).then((p) => {
    probed = p;
    const active = box.activeItems[0]?.value;
    box.items = items(torchItem(p.text, p.ok));
    box.activeItems = box.items.filter((i) => i.value === active);
    box.busy = false;
  });
  const chosen = await new Promise<Where | undefined>((resolve) => {
    box.onDidAccept(() => resolve(box.selectedItems[0]?.value));
    box.onDidHide(() => resolve(undefined));
    box.show();
  });
  box.dispose();
  if (chosen !== 'torch') return chosen;
  const p = probed ?? (await probeTorchEngine(studio));
  if (p.ok) return chosen;
  const open = await vscode.window.showErrorMessage(`ULPT: the PyTorch engine cannot run here: ${p.text}`, 'Open Settings');
  if (open) await vscode.commands.executeCommand('workbench.action.openSettings', 'ulpt.pythonPath');
  return undefined;
}

async function askFinish(configName: string): Promise<Finish | undefined> {
  const items: Item<Finish>[] = [
    { label: '$(play) Train', detail: 'Start training now; the run keeps its settings and its adapter in .ulpt/runs/', value: 'train' },
    { label: `$(save) Save as ${configName} and train`, detail: 'A config file for next time (ULPT: Train from Config File, or the ▶ button on it)', value: 'save-train' },
    { label: `$(save) Save as ${configName} only`, value: 'save' },
  ];
  return (await pick(items, TITLE(STEPS), 'Ready'))?.value;
}

/** A file name in `dir` that does not exist yet: name.ulpt.json, name-2.ulpt.json, … */
function freeConfigName(dir: string, name: string): string {
  return freeFileName(dir, name, '.ulpt.json');
}

async function readDataset(file: string): Promise<DataRecord[]> {
  const records = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Reading ${path.basename(file)}` }, () => readRecords(file));
  if (!records.length) throw new UserError(`${file} has no records to train on.`);
  return records;
}

/** Asks the questions; undefined when the user cancels. */
export async function trainingSetupFromQuestions(studio: Studio): Promise<TrainingSetup | undefined> {
  if (!vscode.workspace.workspaceFolders?.length) throw new UserError('Open a folder first: runs are kept in its .ulpt/runs folder.');
  const dataset = await pickDataset();
  if (!dataset) return undefined;
  if ('preset' in dataset) return presetSetup(studio, dataset.preset);
  const existing = await pickExistingConfig(dataset.ref ?? dataset.file);
  if (!existing) return undefined;
  if (existing !== NEW_RUN) return { kind: 'config', file: existing };
  const records = await readDataset(dataset.file);
  const fields = Object.keys(records[0].fields);
  const chosenModel = await pickModel();
  if (!chosenModel) return undefined;
  const model = chosenModel.dir;
  const preset = await pickMethod();
  if (!preset) return undefined;
  const task = await pickTask(fields);
  if (!task) return undefined;
  const tokenizer = new TokenizerClient(path.join(studio.context.extensionPath, 'dist', 'tokenize.js'));
  try {
    const template = await askTemplate(records, task, model, tokenizer);
    if (template === undefined) return undefined;
    let labels: Record<string, string> | undefined;
    if (task.type === 'classification') {
      labels = await askLabels(records, task, template, model, tokenizer);
      if (!labels) return undefined;
    }
    const steps = await askSteps();
    if (!steps) return undefined;
    const name = await askName(dataset.ref ? hubRunName(dataset.ref) : defaultRunName(dataset.file));
    if (!name) return undefined;
    // Hub data lies in the Hugging Face cache: its run goes to the first workspace folder, as the wizard's other runs.
    const root = dataset.ref ? vscode.workspace.workspaceFolders[0].uri.fsPath : studio.rootFor(dataset.file);
    const configFile = freeConfigName(root, name);
    const where = await askWhere(studio);
    if (!where) return undefined;
    // A job for a cluster is exported from a saved config (engine torch): nothing trains here.
    const finish = where === 'job' ? 'save' : await askFinish(path.basename(configFile));
    if (!finish) return undefined;

    const validation = dataset.ref ? dataset.validationRef : findValidationFile(dataset.file, dataset.all);
    const ending: Ending = { root, name, configFile, where, finish, runDir: path.join(studio.runsDir(root), newRunId(name)) };
    const raw: Record<string, unknown> = {
      model: chosenModel.ref, // a Hub id stays one (the trainer takes it from the cache): the config reads as written
      train: dataset.ref ?? dataset.file, // an hf:// path stays one: the trainer takes it from the cache
      ...(validation ? { validation } : { validationSplit: records.length >= 20 ? 0.1 : 0 }),
      ...runSettings(studio, preset, steps, ending),
      task: { type: task.type, template, ...(task.inputField !== 'input' ? { inputField: task.inputField } : {}), targetField: task.targetField, ...(labels ? { labels } : {}) },
    };
    return await saveOrRun(studio, raw, ending);
  } finally {
    tokenizer.dispose();
  }
}

/** The last answers (name, where, what to do), and where the run goes. */
interface Ending {
  root: string;
  name: string;
  configFile: string;
  where: Where;
  finish: Finish;
  runDir: string;
}

/** The settings the wizard asks about or takes from its defaults, whatever the data. */
function runSettings(studio: Studio, method: MethodPreset, steps: number, ending: Ending): Record<string, unknown> {
  // Evaluate and checkpoint about ten times per run (at most every 50 steps).
  const every = Math.max(1, Math.min(50, Math.round(steps / 10)));
  const { where, root, name, runDir } = ending;
  return {
    method: method.method,
    ...(method.method === 'ulpt' ? { rank: method.rank, scaleInit: WIZARD_DEFAULTS.scaleInit } : {}),
    promptLength: WIZARD_DEFAULTS.promptLength,
    steps,
    lr: method.lr,
    batchSize: WIZARD_DEFAULTS.batchSize,
    warmupSteps: Math.min(WIZARD_DEFAULTS.warmupSteps, Math.floor(steps / 10)),
    // maxLength stays unset: the trainer fits it to the model's context after the virtual tokens.
    evalEvery: every,
    checkpointEvery: every,
    // The engine is written when it is not what a config without one gets (the ulpt.engine setting).
    ...(where !== 'builtin' || studio.defaultEngine() !== 'builtin' ? { engine: where === 'builtin' ? 'builtin' : 'torch' } : {}),
    // A config file names its adapter in the project; a one-off run keeps it in its run folder ("Save Adapter…" copies it).
    // A free name: an adapter another config or run wrote there is never taken over by a new config.
    out: ending.finish !== 'train' ? freeFileName(path.join(root, 'adapters'), name, '.ulpt') : path.join(runDir, 'adapter.ulpt'),
  };
}

/** Saves the answers as a config file when asked; the run to start, or undefined when there is none to start here. */
async function saveOrRun(studio: Studio, raw: Record<string, unknown>, ending: Ending): Promise<TrainingSetup | undefined> {
  const { root, name, configFile, where, finish, runDir } = ending;
  let savedConfig: string | null = null;
  if (finish !== 'train') {
    // Created exclusively and whole: a file of that name made meanwhile is kept, and the answers take the next free name.
    const text = configFileText(raw, root);
    let file = configFile;
    while (!createFileExclusive(file, text)) file = freeConfigName(root, name);
    savedConfig = file;
    studio.output.info(`saved the wizard's answers to ${file}`);
    if (where === 'job') return { kind: 'job', file };
    if (finish === 'save') {
      await vscode.window.showTextDocument(vscode.Uri.file(file));
      return undefined;
    }
  }
  const config = resolveConfig({ ...raw, backend: studio.defaultBackend() } as Parameters<typeof resolveConfig>[0], root, 'the training settings');
  return { kind: 'run', config, runDir, name, savedConfig };
}

/**
 * A paper task: the preset names the data (Hub files, fetched into the Hugging Face cache when training starts) and
 * the task, so only the model, method, steps, name and where to train are asked. The config carries `preset`.
 */
async function presetSetup(studio: Studio, task: Preset): Promise<TrainingSetup | undefined> {
  const chosenModel = await pickModel();
  if (!chosenModel) return undefined;
  const method = await pickMethod();
  if (!method) return undefined;
  const steps = await askSteps();
  if (!steps) return undefined;
  const name = await askName(task.name.replace(/\//g, '-'));
  if (!name) return undefined;
  const root = vscode.workspace.workspaceFolders![0].uri.fsPath;
  const configFile = freeConfigName(root, name);
  const where = await askWhere(studio);
  if (!where) return undefined;
  const finish = where === 'job' ? 'save' : await askFinish(path.basename(configFile));
  if (!finish) return undefined;
  const ending: Ending = { root, name, configFile, where, finish, runDir: path.join(studio.runsDir(root), newRunId(name)) };
  return saveOrRun(studio, { model: chosenModel.ref, preset: task.name, ...runSettings(studio, method, steps, ending) }, ending);
}
