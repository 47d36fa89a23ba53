// Quick picks shared by the commands: choosing a run.
import * as vscode from 'vscode';
import type { RunListing } from '../runs/runStore';
import type { Studio } from '../studio';
import { STATUS_TEXT } from '../../webview/shared/series';

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

/** "31 Jan, 14:03" (this year) or "31 Jan 2024, 14:03". */
export function shortDate(ms: number, now = new Date()): string {
  const d = new Date(ms);
  const opts: Intl.DateTimeFormatOptions = { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hour12: false };
  if (d.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
  return d.toLocaleString('en-GB', opts);
}

export function describeRun(r: RunListing): vscode.QuickPickItem {
  const step = `step ${r.lastStep}${r.totalSteps ? `/${r.totalSteps}` : ''}`;
  const best = r.best ? ` · best ${r.best.metric} ${r.best.value.toFixed(4)} @ ${r.best.step}` : '';
  return {
    label: `${STATUS_ICON[r.status]} ${r.name}`,
    description: `${shortDate(r.created)} · ${STATUS_TEXT[r.status]}, ${step}${best}`,
    detail: r.interruption ? `${vscode.workspace.asRelativePath(r.dir)} — ${r.interruption}` : vscode.workspace.asRelativePath(r.dir),
  };
}

/**
 * Picks a run among those `filter` accepts; one candidate is taken without asking (unless `askIfOne`). With none, says
 * so as information (nothing went wrong) and returns undefined.
 */
export async function pickRun(studio: Studio, filter: (r: RunListing) => boolean, opts: { placeHolder: string; none: string; askIfOne?: boolean }): Promise<RunListing | undefined> {
  const runs = studio.listRuns().filter(filter);
  if (!runs.length) {
    if (opts.none) void vscode.window.showInformationMessage(`ULPT: ${opts.none}`);
    return undefined;
  }
  if (runs.length === 1 && !opts.askIfOne) return runs[0];
  const picked = await vscode.window.showQuickPick(
    runs.map((r) => ({ ...describeRun(r), run: r })),
    { placeHolder: opts.placeHolder, matchOnDescription: true, matchOnDetail: true },
  );
  return picked?.run;
}
