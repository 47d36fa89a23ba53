// The monitor, the comparison, the adapter inspector and the playground in a real VS Code (code-server + Chromium).
//
// Before VS Code starts, `ulpt train` (the CLI) trains a short run on the example workspace: a finished run with an
// adapter, plus a truncated copy of that adapter (a corrupt file). Its run folder is moved aside, so VS Code starts
// without runs. In the session:
//   0. the ULPT view shows its empty state; the run folder is moved back while VS Code watches;
//   1. the ULPT view lists the finished run (the watcher saw .ulpt/runs appear); a second run, started from the CLI
//      in a "terminal" (a process of this test, not of VS Code), appears as running and its sparkline grows;
//   2. selecting both and pressing Compare overlays their curves, with rank and lr in the legend of what differs;
//   3. opening the adapter shows the parameter line, a rendered scatter of Z, the base model found by fingerprint and
//      the nearest tokens; the corrupt file shows its error; an evaluation on a dataset reports its metrics;
//   4. "Try in Playground…" answers an input with and without the adapter, with label probabilities;
//   5. deleting the finished run from the monitor asks first, then removes its folder (not the saved adapter);
//   6. Stop on the terminal's run stops it (it reads the stop request in its run folder) and `ulpt train` exits.
//   7. a run of the PyTorch engine from the terminal shows in the monitor live as well (started.json: engine torch),
//      and stops from it.
// ULPT_E2E_MONITOR_STEPS sets the length of the finished run (default 12 steps); the live run trains up to 200 steps
// and is stopped at the end (killed if the test fails first).
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Frame } from 'playwright-core';
import { ROOT, sleep, waitFor, WaitAbort, withSession, type Session } from './harness';

const CLI = path.join(ROOT, 'dist', 'cli.js');
const PYTHON = path.join(ROOT, '.venv', 'bin', 'python');
const STEPS = Number(process.env.ULPT_E2E_MONITOR_STEPS) || 12;
const SESSION_TIMEOUT_MS = Number(process.env.ULPT_E2E_MONITOR_TIMEOUT_MS) || 300_000;

/** A short validation file (the example's first 32 records) keeps each evaluation to a second or so. */
function prepare(workspace: string): void {
  const data = path.join(workspace, 'data');
  const lines = fs.readFileSync(path.join(data, 'sentiment-validation.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, 32);
  fs.writeFileSync(path.join(data, 'small-validation.jsonl'), lines.join('\n') + '\n');
  const r = spawnSync(process.execPath, [CLI, 'train', '--config', 'ulpt.config.json', '--validation', 'data/small-validation.jsonl', '--steps', String(STEPS),
    '--eval-every', String(Math.max(1, Math.floor(STEPS / 2))), '--warmup-steps', '1', '--backend', 'wasm'], { cwd: workspace, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`ulpt train failed (${r.status ?? r.signal}):\n${r.stderr}\n${r.stdout}`);
  const adapter = path.join(workspace, 'adapters', 'sentiment.ulpt');
  const bytes = fs.readFileSync(adapter);
  fs.writeFileSync(path.join(workspace, 'adapters', 'corrupt.ulpt'), bytes.subarray(0, Math.floor(bytes.length / 2)));
  // VS Code starts without runs (the empty state); the run folder is moved in while it watches.
  fs.renameSync(path.join(workspace, '.ulpt'), path.join(workspace, 'ulpt-later'));
}

/** The activity bar's ULPT container, through the palette (or its icon when the palette lacks the command). */
async function showMonitor(s: Session): Promise<Frame> {
  await s.runCommand('View: Show ULPT').catch(async () => {
    await s.page.keyboard.press('Escape');
    await s.page.locator('.activitybar [aria-label^="ULPT"]').first().click();
  });
  return s.frameWith('[data-testid="monitor"][data-ready="true"]', 60_000);
}

/** Opens a workspace file by name through Quick Open. */
async function quickOpen(s: Session, name: string): Promise<void> {
  await s.openPalette();
  await s.quickPick(name, name);
}

interface Row {
  name: string;
  dir: string;
  status: string;
  steps: string;
  trainPoints: number;
  sparkPoints: number;
}

async function rows(monitor: Frame): Promise<Row[]> {
  return monitor.$$eval('[data-testid="run"]', (items) => items.map((li) => {
    const spark = li.querySelector('[data-testid="sparkline"]') as SVGElement | null;
    return {
      name: li.getAttribute('data-name') ?? '',
      dir: li.getAttribute('data-dir') ?? '',
      status: li.getAttribute('data-status') ?? '',
      steps: li.querySelector('[data-testid="steps"]')?.textContent ?? '',
      trainPoints: Number(spark?.getAttribute('data-train-points') ?? 0),
      sparkPoints: Number(spark?.getAttribute('data-points') ?? 0),
    };
  }));
}

test('monitor, compare, inspector and playground', { timeout: SESSION_TIMEOUT_MS + 60_000 }, async (t) => {
  let live: ChildProcess | null = null;
  let torch: ChildProcess | null = null;
  const opts = { name: 'monitor', settings: { 'ulpt.backend': 'wasm' }, timeoutMs: SESSION_TIMEOUT_MS, log: (l: string) => t.diagnostic(l), prepareWorkspace: prepare };
  try {
    await withSession(opts, async (s) => {
      // 0. No runs yet: the empty state says how to start one. Then the finished run's folder appears.
      const monitor = await showMonitor(s);
      await monitor.waitForSelector('[data-testid="empty"]:not([hidden]) [data-testid="train"]', { timeout: 15_000 });
      await s.screenshot('monitor-empty');
      fs.renameSync(path.join(s.workspace, 'ulpt-later'), path.join(s.workspace, '.ulpt'));

      // 1. The finished run, then a live one from the command line.
      const finished = await waitFor('the finished run in the monitor', async () => {
        const r = await rows(monitor);
        return r.length === 1 && r[0].status === 'completed' ? r[0] : null;
      }, 30_000);
      assert.match(finished.name, /^sentiment · ULPT r=2 · [0-9a-f]{4}$/, 'the display name, as in tabs and pickers');
      assert.equal(finished.steps.trim(), `${STEPS} / ${STEPS}`);
      assert.ok(finished.sparkPoints > 1, 'the finished run has a sparkline');

      live = spawn(process.execPath, [CLI, 'train', '--config', 'ulpt.config.json', '--validation', 'data/small-validation.jsonl', '--rank', '4', '--lr', '0.05',
        '--steps', '100000', '--eval-every', '10', '--warmup-steps', '1', '--out', 'adapters/second.ulpt', '--backend', 'wasm'], { cwd: s.workspace, stdio: 'ignore' });
      const first = await waitFor('the CLI run to show as running with a sparkline', async () => {
        const r = (await rows(monitor)).find((x) => x.name.startsWith('second · ULPT r=4'));
        return r && r.status === 'running' && r.sparkPoints >= 2 ? r : null;
      }, 90_000, 300);
      const later = await waitFor('its sparkline to move', async () => {
        const r = (await rows(monitor)).find((x) => x.name.startsWith('second · ULPT r=4'));
        return r && r.trainPoints >= first.trainPoints + 3 ? r : null;
      }, 60_000, 300);
      t.diagnostic(`live run: ${first.trainPoints} → ${later.trainPoints} steps in the sparkline, status ${later.status}`);
      assert.equal(later.status, 'running');
      await s.screenshot('monitor-finished-and-running');

      // 2. Compare the two.
      for (const name of [finished.name, later.name]) await monitor.check(`li[data-name="${name}"] [data-testid="select"]`);
      await monitor.click('[data-testid="compare"]:not([disabled])');
      const compare = await s.frameWith('[data-testid="compare"][data-runs="2"]', 30_000);
      const differences = (await compare.getAttribute('#app', 'data-differences')) ?? '';
      assert.ok(differences.split(',').includes('rank') && differences.split(',').includes('lr'), `rank and lr differ (legend: ${differences})`);
      assert.equal(await compare.getAttribute('[data-testid="loss-chart"]', 'data-series'), '2');
      const paths = await compare.$$eval('[data-testid="loss-chart"] canvas', (c) => c.length);
      assert.ok(paths >= 1, 'the loss chart is drawn');
      const legend = await compare.$$eval('[data-testid="legend-run"]', (r) => r.map((x) => x.textContent ?? ''));
      assert.equal(legend.length, 2);
      assert.ok(legend.some((l) => l.includes('4') && l.includes('0.05')), `the live run's rank and lr in the legend: ${JSON.stringify(legend)}`);
      await sleep(500);
      await s.screenshot('compare');

      // 3. The inspector, on the adapter and on the corrupt copy.
      await quickOpen(s, 'sentiment.ulpt');
      const inspector = await s.findWebviewFrame(async (f) => (await f.$('[data-testid="inspector"][data-file$="sentiment.ulpt"] [data-testid="params"]:not(:empty)')) !== null, 'the inspector of sentiment.ulpt', 30_000);
      const params = (await inspector.textContent('[data-testid="params"]')) ?? '';
      assert.match(params, /276 vs 1,280 \(21\.6 %\)/, `parameter line: ${params}`);
      assert.equal(await inspector.getAttribute('[data-testid="scatter"]', 'data-points'), '10');
      assert.equal(await inspector.$$eval('[data-testid="scatter"] circle', (c) => c.length), 10, 'ten points drawn');
      await inspector.waitForSelector('[data-testid="model-match"][data-state="found"]', { timeout: 60_000 });
      await inspector.waitForSelector('[data-testid="neighbour-row"]', { timeout: 60_000 });
      assert.equal(await inspector.$$eval('[data-testid="neighbour-row"]', (r) => r.length), 10);
      await s.screenshot('inspector');

      await quickOpen(s, 'corrupt.ulpt');
      const broken = await s.findWebviewFrame(async (f) => (await f.$('[data-testid="inspector"][data-file$="corrupt.ulpt"] [data-testid="error"]:not([hidden])')) !== null, 'the corrupt file’s error', 30_000);
      const error = (await broken.textContent('[data-testid="error-text"]')) ?? '';
      assert.match(error, /corrupt\.ulpt/);
      assert.match(error, /not a valid safetensors file|truncated|only \d+/i, error);
      await s.screenshot('inspector-corrupt');

      // 4. The playground, from the inspector.
      await quickOpen(s, 'sentiment.ulpt');
      // The tab's page was torn down while hidden and loads again: find its frame anew.
      const again = await s.findWebviewFrame(async (f) => (await f.$('[data-testid="inspector"][data-file$="sentiment.ulpt"] [data-testid="try"]:not([disabled])')) !== null, 'the inspector of sentiment.ulpt, again', 30_000);
      // Evaluate on a dataset: the metrics with and without the adapter appear in the inspector.
      await again.click('[data-testid="evaluate"]');
      await s.quickPick('small-validation.jsonl');
      await again.waitForSelector('[data-testid="evaluation"]', { timeout: 60_000 });
      const evaluation = (await again.textContent('[data-testid="evaluation"]')) ?? '';
      assert.match(evaluation, /small-validation\.jsonl\s*32\s*with the adapter.*accuracy 0\.\d+/, evaluation);
      await again.$eval('[data-testid="evaluations"]', (e) => e.scrollIntoView());
      await s.screenshot('inspector-evaluation');
      await again.click('[data-testid="try"]');
      const playground = await s.frameWith('[data-testid="playground"][data-ready="true"]', 30_000);
      const t0 = Date.now();
      await playground.fill('[data-testid="input"]', 'a wonderful, moving film with a superb cast');
      await playground.click('[data-testid="run"]:not([disabled])', { timeout: 60_000 });
      await playground.waitForSelector('[data-testid="result"] [data-testid="with-scores"] li', { timeout: 60_000 });
      const answerMs = Date.now() - t0;
      s.timings['playground first answer'] = answerMs;
      t.diagnostic(`playground: first answer ${answerMs} ms after the input was typed (the inspector had loaded the model in the shared playground process; cold starts: npm run bench:playground)`);
      const answer = await playground.$eval('[data-testid="result"]', (r) => ({
        with: r.querySelector('[data-testid="with-text"]')?.textContent ?? '',
        without: r.querySelector('[data-testid="without-text"]')?.textContent ?? '',
        probabilities: Array.from(r.querySelectorAll('[data-testid="with-scores"] li'), (li) => Number(li.getAttribute('data-probability'))),
      }));
      assert.ok(['positive', 'negative'].includes(answer.with), `a label with the adapter: ${answer.with}`);
      assert.ok(['positive', 'negative'].includes(answer.without), `a label without: ${answer.without}`);
      assert.equal(answer.probabilities.length, 2);
      assert.ok(Math.abs(answer.probabilities[0] + answer.probabilities[1] - 1) < 1e-4);
      await s.screenshot('playground');

      // 5. Delete the finished run from the monitor, through the confirmation.
      await monitor.click(`li[data-name="${finished.name}"] [data-action="delete"]`);
      const dialog = s.page.locator('.monaco-dialog-box');
      await dialog.waitFor({ state: 'visible', timeout: 15_000 });
      assert.match((await dialog.textContent()) ?? '', /Delete the run sentiment · ULPT r=2/);
      await dialog.locator('.dialog-buttons .monaco-button', { hasText: 'Delete' }).click();
      await waitFor('the deleted run to leave the monitor', async () => !(await rows(monitor)).some((r) => r.name === finished.name), 15_000);
      assert.ok(!fs.existsSync(finished.dir), `the run folder ${finished.dir} is gone`);
      assert.ok(fs.existsSync(path.join(s.workspace, 'adapters', 'sentiment.ulpt')), 'the adapter saved into the project stays');

      // 6. Stop the terminal's run from the monitor: through its run folder, it ends after a step with a checkpoint.
      await monitor.click(`li[data-name="${later.name}"] [data-action="stop"]`);
      // The run is 100,000 steps long: only the stop request can end it, however fast the machine is.
      await waitFor('the terminal run to stop', async () => {
        const status = (await rows(monitor)).find((r) => r.name === later.name)?.status;
        if (status === 'finished' || status === 'failed') throw new WaitAbort(`the terminal run ended as ${status}, not stopped`);
        if (status !== 'stopped') throw new Error(`status ${status}`); // retried; the last one is reported on timeout
        return status;
      }, 60_000, 300);
      const code = await waitFor('the ulpt process to exit', () => (live!.exitCode ?? null) !== null ? { code: live!.exitCode } : null, 30_000);
      assert.equal(code.code, 130, 'ulpt train exits with 130 when stopped (checkpoint kept)');
      await s.screenshot('monitor-after-delete-and-stop');

      // 7. A PyTorch engine run from the terminal: the same monitor row, live, and the same Stop.
      torch = spawn(process.execPath, [CLI, 'train', '--config', 'ulpt.config.json', '--validation', 'data/small-validation.jsonl', '--engine', 'torch',
        '--python', PYTHON, '--steps', '100000', '--eval-every', '10', '--warmup-steps', '1', '--out', 'adapters/torch.ulpt'], { cwd: s.workspace, stdio: 'ignore', env: { ...process.env, OMP_NUM_THREADS: '1' } });
      const torchRow = await waitFor('the torch run to show as running with a growing sparkline', async () => {
        const r = (await rows(monitor)).find((x) => x.name.startsWith('torch · ULPT r=2') && x.status === 'running');
        return r && r.trainPoints >= 5 ? r : null;
      }, 120_000, 300);
      const started = JSON.parse(fs.readFileSync(path.join(torchRow.dir, 'started.json'), 'utf8'));
      assert.equal(started.engine, 'torch', 'the run folder says which engine trains it');
      await s.screenshot('monitor-torch-run');
      await monitor.click(`li[data-name="${torchRow.name}"] [data-action="stop"]`);
      await waitFor('the torch run to stop', async () => (await rows(monitor)).find((r) => r.name === torchRow.name)?.status === 'stopped', 60_000, 300);
      const torchCode = await waitFor('the torch ulpt process to exit', () => (torch!.exitCode ?? null) !== null ? { code: torch!.exitCode } : null, 30_000);
      assert.equal(torchCode.code, 130);
    });
  } finally {
    for (const proc of [live, torch] as (ChildProcess | null)[]) if (proc && proc.exitCode === null) proc.kill('SIGKILL');
  }
});
