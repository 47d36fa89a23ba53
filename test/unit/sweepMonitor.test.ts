// The monitor's sweep groups: sweep.json files found under the workspace's .ulpt/sweeps (written by the sweep's own
// planner, as `ulpt sweep` writes them), and the list grouped by them — a sweep's runs together in its grid's order,
// with how many are done — while other runs stay on their own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MonitorRun, RunStatus } from '../../src/protocol';
import { parseGrid } from '../../src/sweep/grid';
import { planSweep, writeSweepFile } from '../../src/sweep/plan';
import { readSweeps } from '../../extension/runs/sweeps';
import { groupRuns } from '../../webview/monitor/groups';
import { TINY, tempDir } from './helpers';

function workspaceWithSweep(): { ws: string; dir: string; runs: string[] } {
  const ws = tempDir('ulpt-sweep-monitor-');
  fs.writeFileSync(path.join(ws, 'train.jsonl'), '{"input":"a","target":"b"}\n');
  fs.writeFileSync(path.join(ws, 'ulpt.config.json'), JSON.stringify({ model: TINY, train: 'train.jsonl', validationSplit: 0.5, steps: 3 }));
  const plan = planSweep({ configFile: path.join(ws, 'ulpt.config.json'), grid: parseGrid(['rank=1,2']), seeds: ['1', '2'], overrides: {} });
  writeSweepFile(plan.dir, plan.file);
  return { ws, dir: plan.dir, runs: plan.file.cells.map((c) => path.resolve(plan.dir, c.runDir)) };
}

function row(dir: string, status: RunStatus): MonitorRun {
  return {
    id: path.basename(dir), name: path.basename(dir), dir, status, owner: null, model: 'tiny', method: 'ULPT r=1 · n=10', promptLength: 10, task: 'generation',
    step: 3, totalSteps: 3, best: null, elapsedMs: null, etaMs: null, lastLoss: null, sparkline: [], trainPoints: 0, resumable: false,
    adapters: { best: false, final: false }, error: null, modified: 0,
  };
}

test('readSweeps finds a workspace\'s sweeps with every run folder in the grid\'s order, and skips a damaged one', () => {
  const { ws, dir, runs } = workspaceWithSweep();
  const broken = path.join(ws, '.ulpt', 'sweeps', 'broken');
  fs.mkdirSync(broken);
  fs.writeFileSync(path.join(broken, 'sweep.json'), '{"version": 1, "cel');
  const found = readSweeps([ws, path.join(ws, 'no-such-folder')]);
  assert.equal(found.length, 1);
  assert.equal(found[0].dir, dir);
  assert.equal(found[0].name, path.basename(dir));
  assert.deepEqual(found[0].runs, runs);
  assert.deepEqual(runs.map((r) => path.basename(r).replace(/^sweep-[^_]+_/, '')), ['rank-1_s1', 'rank-1_s2', 'rank-2_s1', 'rank-2_s2']);
  assert.ok(runs.every((r) => path.dirname(r) === path.join(ws, '.ulpt', 'runs')), 'the runs are ordinary run folders of the workspace');
});

test('groupRuns puts a sweep\'s runs under it (done of all), where its newest run stands; other runs stay alone', () => {
  const { ws, runs } = workspaceWithSweep();
  const [sweep] = readSweeps([ws]);
  const lone = path.join(ws, '.ulpt', 'runs', '2026-12-06_10-00-00_other-abcd');
  const older = path.join(ws, '.ulpt', 'runs', '2026-12-05_10-00-00_old-0123');
  // Newest first, as the host sends them: one lone run, three of the sweep's four (one not started), an older run.
  const list = [row(lone, 'running'), row(runs[2], 'running'), row(runs[1], 'completed'), row(runs[0], 'early-stopped'), row(older, 'failed')];
  const groups = groupRuns(list, [sweep]);
  assert.deepEqual(groups.map((g) => (g.sweep ? `sweep ${g.done}/${g.total}` : path.basename(g.runs[0].dir))), [path.basename(lone), 'sweep 2/4', path.basename(older)]);
  assert.deepEqual(groups[1].runs.map((r) => r.dir), [runs[0], runs[1], runs[2]], 'in the sweep\'s own order');
  assert.deepEqual(groupRuns(list, []).map((g) => g.runs.length), [1, 1, 1, 1, 1], 'without sweeps every run is alone');
});
