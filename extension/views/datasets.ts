// Choosing a dataset file for the playground and the inspector's evaluation: the workspace's data files, with the
// ones named like the adapter's own training and validation files first, and a Browse… entry.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AdapterMeta } from '../../src/io/adapter';
import { DATASET_EXTENSIONS, DATASET_GLOB, isDatasetFile, SEARCH_EXCLUDE } from '../commands/discovery';
import { folderDescription } from '../commands/pickers';

export async function pickDataset(meta: AdapterMeta, placeHolder: string): Promise<string | undefined> {
  const files = (await vscode.workspace.findFiles(DATASET_GLOB, SEARCH_EXCLUDE, 2000)).map((u) => u.fsPath).filter(isDatasetFile);
  // The adapter records its data files by name only (training.train / training.validation).
  const own = [meta.training.validation, meta.training.train].filter((v): v is string => typeof v === 'string');
  const rank = (f: string) => {
    const i = own.indexOf(path.basename(f));
    return i < 0 ? own.length : i;
  };
  files.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  type Item = vscode.QuickPickItem & { file: string };
  const items: Item[] = files.map((f) => ({
    label: `$(database) ${path.basename(f)}`,
    description: folderDescription(path.dirname(f)),
    detail: rank(f) < own.length ? (path.basename(f) === meta.training.validation ? 'the adapter’s validation data' : 'the adapter’s training data') : undefined,
    file: f,
  }));
  items.push({ label: '$(folder-opened) Browse…', file: '' });
  const picked = await vscode.window.showQuickPick(items, { placeHolder, matchOnDescription: true });
  if (!picked) return undefined;
  if (picked.file) return picked.file;
  const uris = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { Data: [...DATASET_EXTENSIONS] }, openLabel: 'Use This Dataset' });
  return uris?.[0]?.fsPath;
}
