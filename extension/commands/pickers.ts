// Quick picks shared by the commands: choosing a run.
import * as vscode from 'vscode';
import type { RunListing } from '../runs/runStore';
import { UserError, type Studio } from '../studio';

/** A folder for a quick pick's description: workspace-relative, empty for a workspace folder itself. */
export function folderDescription(dir: string): string {
  const rel = vscode.workspace.asRelativePath(dir, false);
  return rel === dir || rel === '' ? '' : rel;
}

const STATUS_ICON: Record<RunListing['status'], string> = {
  running: '$(sync~spin)',
  stopping: '$(debug-stop)',
  completed: '$(pass)',
  'early-stopped': '$(pass)',
  stopped: '$(debug-pause)',
  interrupted: '$(debug-disconnect)',
  failed: '$(error)',
};

export function describeRun(r: RunListing): vscode.QuickPickItem {
  const method = r.config ? (r.config.method === 'ulpt' ? `ULPT r=${r.config.rank}` : 'prompt tuning') : '';
  return {
    label: `${STATUS_ICON[r.status]} ${r.name}`,
    description: `${r.status}, step ${r.lastStep}${r.totalSteps ? `/${r.totalSteps}` : ''}${method ? ` · ${method}` : ''}`,
    detail: `${new Date(r.modified).toLocaleString()} · ${vscode.workspace.asRelativePath(r.dir)}`,
  };
}

/** Picks a run among those `filter` accepts; one candidate is taken without asking. */
export async function pickRun(studio: Studio, filter: (r: RunListing) => boolean, opts: { placeHolder: string; none: string; askIfOne?: boolean }): Promise<RunListing | undefined> {
  const runs = studio.listRuns().filter(filter);
  if (!runs.length) throw new UserError(opts.none);
  if (runs.length === 1 && !opts.askIfOne) return runs[0];
  const picked = await vscode.window.showQuickPick(
    runs.map((r) => ({ ...describeRun(r), run: r })),
    { placeHolder: opts.placeHolder, matchOnDescription: true, matchOnDetail: true },
  );
  return picked?.run;
}
