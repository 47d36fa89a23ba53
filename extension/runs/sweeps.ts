// The sweeps of the workspace (`ulpt sweep` writes `.ulpt/sweeps/<name>/sweep.json` beside `.ulpt/runs`), as the
// monitor groups them and "Compare Sweep Runs" opens them. Plain Node (no vscode), so it is tested without VS Code.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MonitorSweep } from '../../src/protocol';
import { cellRunDir, readSweepFile, SWEEPS_DIR } from '../../src/sweep/plan';

/** Every readable sweep under the workspace folders, newest first. A damaged sweep.json is skipped, not fatal. */
export function readSweeps(roots: string[]): MonitorSweep[] {
  const found: (MonitorSweep & { created: string })[] = [];
  for (const root of roots) {
    const base = path.join(root, SWEEPS_DIR);
    let names: string[] = [];
    try {
      names = fs.readdirSync(base);
    } catch {
      continue; // no sweeps in this folder
    }
    for (const name of names) {
      const dir = path.join(base, name);
      try {
        const file = readSweepFile(dir);
        if (file) found.push({ name: file.name, dir, runs: file.cells.map((c) => cellRunDir(dir, c)), created: file.created });
      } catch {
        /* a sweep.json being written or edited by hand: its runs show ungrouped until it reads again */
      }
    }
  }
  return found.sort((a, b) => b.created.localeCompare(a.created)).map(({ created: _created, ...s }) => s);
}
