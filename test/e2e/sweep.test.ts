// A sweep in a real VS Code (code-server + Chromium): before VS Code starts, `ulpt sweep` (the CLI) trains a 2-arm
// sweep of short runs on the example workspace. The monitor shows its runs as one group under the sweep's name with
// "2 of 2 done"; the group's Compare button and the command "ULPT: Compare Sweep Runs" open the comparison on both.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Frame } from 'playwright-core';
import { ROOT, withSession, type Session } from './harness';

const CLI = path.join(ROOT, 'dist', 'cli.js');

/** Two runs of 4 steps, evaluated on the example's first 32 validation records (seconds each). */
function prepare(workspace: string): void {
  const data = path.join(workspace, 'data');
  const lines = fs.readFileSync(path.join(data, 'sentiment-validation.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, 32);
  fs.writeFileSync(path.join(data, 'sentiment-validation.jsonl'), lines.join('\n') + '\n');
  const r = spawnSync(process.execPath, [CLI, 'sweep', '--config', 'ulpt.config.json', '--grid', 'rank=2,4', '--seeds', '1,', '--steps', '4', '--backend', 'wasm'],
    { cwd: workspace, encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0) throw new Error(`ulpt sweep failed (${r.status ?? r.signal}):\n${r.stderr}\n${r.stdout}`);
}

async function showMonitor(s: Session): Promise<Frame> {
  await s.runCommand('View: Show ULPT').catch(async () => {
    await s.page.keyboard.press('Escape');
    await s.page.locator('.activitybar [aria-label^="ULPT"]').first().click();
  });
  return s.frameWith('[data-testid="monitor"][data-ready="true"]', 60_000);
}

test('the monitor groups a sweep\'s runs, and Compare Sweep Runs compares them', { timeout: 300_000 }, async (t) => {
  await withSession({ name: 'sweep', settings: { 'ulpt.backend': 'wasm' }, log: (l: string) => t.diagnostic(l), prepareWorkspace: prepare }, async (s) => {
    const sweeps = path.join(s.workspace, '.ulpt', 'sweeps');
    const [name] = fs.readdirSync(sweeps);
    const monitor = await showMonitor(s);
    const group = await monitor.waitForSelector('[data-testid="sweep"][data-done="2"][data-total="2"]', { timeout: 30_000 });
    assert.equal((await group.$eval('[data-testid="sweep-name"]', (e) => e.textContent))?.trim(), `Sweep ${name}`);
    assert.equal((await group.$eval('[data-testid="sweep-progress"]', (e) => e.textContent))?.trim(), '2 of 2 done');
    const nested = await group.$$eval('[data-testid="run"]', (rows) => rows.map((r) => r.getAttribute('data-dir') ?? ''));
    const sweep = JSON.parse(fs.readFileSync(path.join(sweeps, name, 'sweep.json'), 'utf8')) as { cells: { runDir: string }[] };
    assert.deepEqual(nested, sweep.cells.map((c) => path.resolve(sweeps, name, c.runDir)), 'the runs under the group, in the grid\'s order');
    await s.screenshot('monitor-sweep');

    await monitor.click('[data-testid="compare-sweep"]:not([disabled])');
    const compare = await s.frameWith('[data-testid="compare"][data-runs="2"]', 30_000);
    assert.ok(((await compare.getAttribute('#app', 'data-differences')) ?? '').split(',').includes('rank'), 'rank differs in the legend');
    await s.screenshot('compare-sweep');
    await s.runCommand('View: Close All Editors');

    await s.runCommand('ULPT: Compare Sweep Runs');
    await s.frameWith('[data-testid="compare"][data-runs="2"]', 30_000);
  });
});
