// Getting results out of a run: Save Adapter (copy into the project, checked by reading it back), metrics as CSV,
// and the PEFT export. The file formats are the engine's (src/io); this module only chooses files and asks people.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { writeFileAtomic } from '../../src/io/atomic';
import { adapterProblem, readAdapter } from '../../src/io/adapter';
import { exportPeft, peftBaseModelName, peftOutState } from '../../src/io/peft';
import { runModelOf } from './modelMatch';
import { metricsCsv } from './csv';
import { describeRun, folderDescription, pickRun } from './pickers';
import { FILES, readMetricsFile, readRunFiles, runName, runTitle } from '../runs/runStore';
import { UserError, type Studio } from '../studio';

/** The adapter a run offers: the best evaluated one when there was validation data, else the last state. */
export function runAdapter(runDir: string): { file: string; kind: 'best' | 'final' } | null {
  const { adapters } = readRunFiles(runDir);
  if (adapters.best) return { file: path.join(runDir, FILES.best), kind: 'best' };
  if (adapters.final) return { file: path.join(runDir, FILES.final), kind: 'final' };
  return null;
}

async function confirmOverwrite(file: string): Promise<boolean> {
  if (!fs.existsSync(file)) return true;
  const choice = await vscode.window.showWarningMessage(`${vscode.workspace.asRelativePath(file)} already exists. Overwrite it?`, { modal: true }, 'Overwrite');
  return choice === 'Overwrite';
}

/**
 * The engine's rule for the export folder (new, empty, or an earlier PEFT export), asked rather than refused:
 * replacing an export, writing into a folder with other files, or through a symlink each need a yes. Returns
 * whether to force the write, or undefined when the user says no.
 */
async function confirmPeftFolder(dest: string): Promise<boolean | undefined> {
  const state = peftOutState(dest);
  const rel = vscode.workspace.asRelativePath(dest);
  const ask = async (question: string, yes: string) => (await vscode.window.showWarningMessage(question, { modal: true }, yes)) === yes;
  switch (state.kind) {
    case 'new': case 'empty': return false;
    case 'file': throw new UserError(`${rel} is a file; the PEFT export needs a folder.`);
    case 'export': return (await ask(`${rel} holds an earlier PEFT export. Replace it?`, 'Replace')) ? false : undefined;
    case 'symlink': return (await ask(`${rel} is a symbolic link to ${state.target}. Write the export there?`, 'Write There')) ? true : undefined;
    case 'foreign': {
      const shown = state.entries.slice(0, 4).join(', ') + (state.entries.length > 4 ? ', …' : '');
      const question = `${rel} is not empty and does not hold a PEFT export (${shown}). Write adapter_config.json and adapter_model.safetensors into it anyway?`;
      return (await ask(question, 'Write Into It')) ? true : undefined;
    }
  }
}

const toPath = (t: string | vscode.Uri) => (typeof t === 'string' ? t : t.fsPath);

/**
 * Copies the run's adapter into the project. Without `target`, a save dialog proposes adapters/<run-name>.ulpt in
 * the run's workspace folder (the dialog itself asks before replacing a file); with `target` (tests, other
 * extensions) an existing file is replaced only after a confirmation, or when `overwrite` is set.
 */
export async function saveAdapter(studio: Studio, runDir?: string, target?: string | vscode.Uri, opts: { overwrite?: boolean } = {}): Promise<string | undefined> {
  if (!runDir) {
    const run = await pickRun(studio, (r) => r.adapters.best || r.adapters.final, {
      placeHolder: 'Save the adapter of which run?',
      none: 'No run has an adapter yet: an adapter appears after the first evaluation (or when a run without validation data ends).',
    });
    if (!run) return undefined;
    runDir = run.dir;
  }
  const source = runAdapter(runDir);
  if (!source) throw new UserError(`${runTitle(runDir)} has no adapter yet: it appears after the first evaluation, or when the run ends.`);
  const adapter = readAdapter(source.file); // refuse to copy a file that would not load
  let dest: string;
  if (target) {
    dest = path.resolve(studio.rootOfRun(runDir), toPath(target));
    if (!opts.overwrite && !(await confirmOverwrite(dest))) return undefined;
  } else {
    const defaultUri = vscode.Uri.file(path.join(studio.rootOfRun(runDir), 'adapters', `${runName(path.basename(runDir))}.ulpt`));
    const picked = await vscode.window.showSaveDialog({ defaultUri, filters: { 'ULPT adapter': ['ulpt'] }, saveLabel: 'Save Adapter', title: 'Save Adapter' });
    if (!picked) return undefined;
    dest = picked.fsPath;
  }
  writeFileAtomic(dest, fs.readFileSync(source.file));
  readAdapter(dest); // read back: what was written is a complete, valid adapter
  const rel = vscode.workspace.asRelativePath(dest);
  const metric = Object.entries(adapter.meta.metrics).filter(([k]) => k !== 'loss').map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ');
  const what = `${source.kind === 'best' ? 'best' : 'last'} adapter (step ${adapter.meta.training.steps_done ?? '?'}${metric ? `, ${metric}` : ''}; ${fs.statSync(dest).size} bytes)`;
  studio.output.info(`saved the ${what} of ${runTitle(runDir)} to ${dest}`);
  void vscode.window.showInformationMessage(`ULPT: saved the ${what} to ${rel}.`, 'Export to PEFT…', 'Reveal').then((choice) => {
    if (choice === 'Export to PEFT…') void vscode.commands.executeCommand('ulpt.exportPeft', vscode.Uri.file(dest));
    if (choice === 'Reveal') void vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(dest));
  });
  return dest;
}

/** Writes the run's metrics as CSV (a save dialog proposes <run-name>-metrics.csv next to the adapters). */
export async function exportCsv(studio: Studio, runDir: string, target?: string | vscode.Uri): Promise<string | undefined> {
  const points = readMetricsFile(runDir);
  if (!points.train.length && !points.eval.length) throw new UserError(`${runTitle(runDir)} has no metrics yet.`);
  let dest: string;
  if (target) {
    dest = path.resolve(studio.rootOfRun(runDir), toPath(target));
  } else {
    const defaultUri = vscode.Uri.file(path.join(studio.rootOfRun(runDir), `${runName(path.basename(runDir))}-metrics.csv`));
    const picked = await vscode.window.showSaveDialog({ defaultUri, filters: { CSV: ['csv'] }, saveLabel: 'Export', title: 'Export Metrics as CSV' });
    if (!picked) return undefined;
    dest = picked.fsPath;
  }
  writeFileAtomic(dest, metricsCsv(points));
  void vscode.window.showInformationMessage(`ULPT: wrote ${points.train.length} training steps and ${points.eval.length} evaluations to ${vscode.workspace.asRelativePath(dest)}.`, 'Open').then((c) => {
    if (c === 'Open') void vscode.window.showTextDocument(vscode.Uri.file(dest));
  });
  return dest;
}

/**
 * Exports an adapter as a Hugging Face PEFT prompt-tuning adapter (adapter_config.json + adapter_model.safetensors).
 * The source is a .ulpt file (explorer menu, argument) or a run's adapter; the folder defaults to <name>-peft
 * beside it. For a run, the run's model folder is the base model (PEFT then records its head and layer counts).
 */
export async function exportPeftAdapter(studio: Studio, source?: string | vscode.Uri, outDir?: string | vscode.Uri): Promise<string | undefined> {
  let file: string;
  let baseModel: string | undefined;
  let label: string;
  const fromRun = (runDir: string) => {
    const a = runAdapter(runDir);
    if (!a) throw new UserError(`${runTitle(runDir)} has no adapter yet.`);
    file = a.file;
    baseModel = readRunFiles(runDir).config?.model;
    label = runName(path.basename(runDir));
  };
  if (source) {
    const p = toPath(source);
    if (fs.existsSync(p) && fs.statSync(p).isDirectory()) fromRun(p);
    else {
      file = p;
      label = path.basename(p).replace(/\.ulpt$/, '');
    }
  } else {
    const picked = await pickAdapter(studio);
    if (!picked) return undefined;
    if (picked.runDir) fromRun(picked.runDir);
    else {
      file = picked.file!;
      label = path.basename(file).replace(/\.ulpt$/, '');
    }
  }
  const { meta } = readAdapter(file!); // a clear error before any dialog if the file is not an adapter
  // PEFT loads the base model by this name: the run's model folder (a Hub snapshot as its repo id), else the one the
  // inspector was pointed at for this fingerprint, else the user says (never the bare folder name "model").
  const remembered = studio.context.globalState.get<Record<string, string>>('ulpt.modelsByFingerprint', {})[meta.base_model.fingerprint];
  const folder = [baseModel, runModelOf(file!), remembered].find((d): d is string => !!d && fs.existsSync(d)) ?? null;
  let baseName = peftBaseModelName(meta, folder);
  if (!baseName) {
    const answer = await vscode.window.showInputBox({
      title: 'Export to PEFT: the base model',
      prompt: `PEFT loads the adapter onto this model (adapter_config.json's base_model_name_or_path): a Hugging Face id such as openai-community/gpt2, or a model folder. The adapter was trained on "${meta.base_model.name}" (${meta.base_model.model_type}).`,
      value: meta.base_model.name,
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() ? undefined : 'Name the base model.'),
    });
    if (!answer) return undefined;
    baseName = answer.trim();
  }
  let dest: string;
  if (outDir) {
    dest = path.resolve(studio.rootFor(file!), toPath(outDir));
  } else {
    const beside = file!.includes(`${path.sep}.ulpt${path.sep}runs${path.sep}`) ? path.join(studio.rootFor(file!), 'adapters') : path.dirname(file!);
    const picked = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.file(path.join(beside, `${label!}-peft`)),
      saveLabel: 'Export Here',
      title: 'Export to PEFT: name the folder to create',
    });
    if (!picked) return undefined;
    dest = picked.fsPath;
  }
  const force = await confirmPeftFolder(dest);
  if (force === undefined) return undefined;
  const out = exportPeft(file!, dest, { baseModelNameOrPath: baseName, ...(folder ? { modelDir: folder } : {}), force });
  studio.output.info(`exported ${file!} to PEFT: ${out.configFile}, ${out.weightsFile}`);
  void vscode.window.showInformationMessage(`ULPT: exported a PEFT prompt-tuning adapter to ${vscode.workspace.asRelativePath(dest)}.`, 'Reveal').then((c) => {
    if (c === 'Reveal') void vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(out.configFile));
  });
  return dest;
}

/** Picks an adapter: a .ulpt file of the workspace, a run's adapter, or any file (Browse…). */
export async function pickAdapter(studio: Studio, placeHolder = 'Export which adapter to PEFT?', openLabel = 'Export'): Promise<{ runDir?: string; file?: string } | undefined> {
  const runs = studio.listRuns().filter((r) => r.adapters.best || r.adapters.final);
  const files = (await vscode.workspace.findFiles('**/*.ulpt', '{**/node_modules/**,**/.ulpt/**}', 200)).map((u) => u.fsPath).sort();
  type Item = vscode.QuickPickItem & { runDir?: string; file?: string };
  const items: Item[] = [];
  // Each file is read (adapters are small; readAdapter refuses anything over its limit at once): an empty, truncated
  // or foreign .ulpt is listed last, marked, with the reason — not offered as if it were an adapter.
  const read = files.map((f) => ({ f, problem: adapterProblem(f) }));
  const fileItem = ({ f, problem }: (typeof read)[number]): Item => problem
    ? { label: `$(warning) ${path.basename(f)}`, description: `not a usable adapter · ${folderDescription(path.dirname(f))}`, detail: problem, file: f }
    : { label: `$(file-binary) ${path.basename(f)}`, description: folderDescription(path.dirname(f)), file: f };
  if (files.length) items.push({ label: 'Adapter files', kind: vscode.QuickPickItemKind.Separator }, ...read.filter((r) => !r.problem).map(fileItem), ...read.filter((r) => r.problem).map(fileItem));
  if (runs.length) items.push({ label: 'Runs', kind: vscode.QuickPickItemKind.Separator }, ...runs.map((r) => ({ ...describeRun(r), label: `$(graph-line) ${r.name}`, runDir: r.dir })));
  items.push({ label: '$(folder-opened) Browse…', file: '' });
  const picked = await vscode.window.showQuickPick(items, { placeHolder });
  if (!picked) return undefined;
  if (picked.file === '') {
    const uris = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'ULPT adapter': ['ulpt'] }, openLabel });
    return uris?.[0] ? { file: uris[0].fsPath } : undefined;
  }
  return picked;
}

