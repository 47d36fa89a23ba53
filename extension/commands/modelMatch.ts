// Finding an adapter's base model on this machine: a model folder whose token embeddings have the fingerprint the
// adapter records. Candidates come from the run that trained the adapter, a folder chosen before, the workspace and
// the Hugging Face cache; config.json rules most out cheaply (model type, vocabulary size), and the playground
// process fingerprints the rest one at a time (it reads the weights; the extension host never does).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AdapterMeta } from '../../src/io/adapter';
import type { ModelMatch } from '../../src/protocol';
import type { PlaygroundProcess } from '../../src/process/playgroundClient';
import { findCachedModels, hfHubCacheDir, isModelFolder, SEARCH_EXCLUDE } from './discovery';
import { UserError } from '../studio';

export type Where = Extract<ModelMatch, { state: 'found' }>['where'];
export interface Candidate {
  dir: string;
  where: Where;
  label: string;
}

/** What config.json says, when it can be read: enough to rule a folder out without touching its weights. */
function configOf(dir: string): { modelType: unknown; vocabSize: unknown } | null {
  try {
    const c = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    return { modelType: c.model_type, vocabSize: c.vocab_size };
  } catch {
    return null;
  }
}

/** Candidates that may hold the adapter's base model: same model_type, and the same vocab_size when config.json has one. */
export function plausibleCandidates(base: AdapterMeta['base_model'], candidates: readonly Candidate[]): Candidate[] {
  const seen = new Set<string>();
  return candidates.filter((c) => {
    const key = path.resolve(c.dir);
    if (seen.has(key)) return false;
    seen.add(key);
    const cfg = configOf(c.dir);
    if (!cfg || cfg.modelType !== base.model_type) return false;
    return typeof cfg.vocabSize !== 'number' || cfg.vocabSize === base.vocab_size;
  });
}

/** The run folder an adapter file sits in (…/.ulpt/runs/<id>/best.ulpt), if any: its config names the model used. */
export function runModelOf(adapterFile: string): string | null {
  const dir = path.dirname(adapterFile);
  if (path.basename(path.dirname(dir)) !== 'runs' || path.basename(path.dirname(path.dirname(dir))) !== '.ulpt') return null;
  try {
    const model = (JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { model?: unknown }).model;
    return typeof model === 'string' ? model : null;
  } catch {
    return null;
  }
}

/** Changes when the folder's config or weights change: fingerprints are kept per folder until then. */
function folderStamp(dir: string): string {
  try {
    return fs.readdirSync(dir).filter((f) => f === 'config.json' || f.endsWith('.safetensors')).sort()
      .map((f) => `${f}:${fs.statSync(path.join(dir, f)).mtimeMs}`).join('|');
  } catch {
    return '';
  }
}

const CHOSEN_KEY = 'ulpt.modelsByFingerprint';

export class ModelFinder {
  private readonly fingerprints = new Map<string, { stamp: string; fingerprint: string | null }>();

  constructor(private readonly memento: vscode.Memento, private readonly process: () => PlaygroundProcess) {}

  /** The fingerprint of a model folder (cached while its files do not change); null when it cannot be loaded. */
  async fingerprint(dir: string): Promise<{ fingerprint: string | null; error: string | null }> {
    const stamp = folderStamp(dir);
    const cached = this.fingerprints.get(dir);
    if (cached && cached.stamp === stamp) return { fingerprint: cached.fingerprint, error: null };
    const res = (await this.process().ask({ type: 'fingerprint', dirs: [dir] })).results[0];
    this.fingerprints.set(dir, { stamp, fingerprint: res.fingerprint });
    return res;
  }

  private async candidates(adapterFile: string, meta: AdapterMeta): Promise<{ list: Candidate[]; workspace: number; cache: number; cacheDir: string }> {
    const list: Candidate[] = [];
    const chosen = this.memento.get<Record<string, string>>(CHOSEN_KEY, {})[meta.base_model.fingerprint];
    if (chosen && isModelFolder(chosen)) list.push({ dir: chosen, where: 'chosen', label: chosen });
    const fromRun = runModelOf(adapterFile);
    if (fromRun && isModelFolder(fromRun)) list.push({ dir: fromRun, where: 'run', label: vscode.workspace.asRelativePath(fromRun) });
    const configs = await vscode.workspace.findFiles('**/config.json', SEARCH_EXCLUDE, 500);
    const workspace = configs.map((u) => path.dirname(u.fsPath)).filter(isModelFolder);
    // A folder named like the adapter's record of it (training.model is the folder name) is tried first.
    const named = String(meta.training.model ?? '');
    workspace.sort((a, b) => Number(path.basename(b) === named) - Number(path.basename(a) === named));
    list.push(...workspace.map((dir) => ({ dir, where: 'workspace' as const, label: vscode.workspace.asRelativePath(dir) })));
    const cacheDir = hfHubCacheDir();
    const cached = findCachedModels(cacheDir);
    list.push(...cached.map((m) => ({ dir: m.path, where: 'hf-cache' as const, label: `${m.repo} (Hugging Face cache)` })));
    return { list, workspace: workspace.length, cache: cached.length, cacheDir };
  }

  /** Searches; `progress` hears how many candidates are left to fingerprint. */
  async find(adapterFile: string, meta: AdapterMeta, progress: (m: ModelMatch) => void = () => {}): Promise<ModelMatch> {
    const { list, workspace, cache, cacheDir } = await this.candidates(adapterFile, meta);
    const plausible = plausibleCandidates(meta.base_model, list);
    let checked = 0;
    for (const c of plausible) {
      progress({ state: 'searching', candidates: plausible.length - checked });
      const { fingerprint } = await this.fingerprint(c.dir);
      checked++;
      if (fingerprint === meta.base_model.fingerprint) return { state: 'found', dir: c.dir, where: c.where, label: c.label };
    }
    return { state: 'not-found', searched: { workspace, cache, cacheDir }, checked };
  }

  /** The user points at a folder: accepted (and remembered for this fingerprint) only if its embeddings match. */
  async choose(meta: AdapterMeta): Promise<ModelMatch | undefined> {
    const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Use This Model', title: `The base model of this adapter (${meta.base_model.name})` });
    const dir = picked?.[0]?.fsPath;
    if (!dir) return undefined;
    if (!isModelFolder(dir)) throw new UserError(`${dir} is not a model folder: it needs config.json and *.safetensors weights.`);
    const { fingerprint, error } = await this.fingerprint(dir);
    if (fingerprint !== meta.base_model.fingerprint) {
      throw new UserError(error
        ? `${dir} cannot be loaded: ${error}`
        : `${dir} is not the model this adapter was trained for: its embeddings have fingerprint ${fingerprint}, the adapter's base model "${meta.base_model.name}" has ${meta.base_model.fingerprint}.`);
    }
    const remembered = { ...this.memento.get<Record<string, string>>(CHOSEN_KEY, {}), [meta.base_model.fingerprint]: dir };
    await this.memento.update(CHOSEN_KEY, remembered);
    return { state: 'found', dir, where: 'chosen', label: dir };
  }
}
