// Every view at 900 × 700, in a dark and a light theme: nothing runs past the edge of its view.
//
// Before VS Code starts, `ulpt train` trains a short run on the example workspace (a finished run with an adapter),
// and a second run folder records a failure whose message names a long path, as a trainer does when its data is
// refused. In the session, for each theme: the side-panel monitor (both runs: the failed one's message must wrap),
// the training panel of the finished run, the adapter inspector with its nearest-tokens table, and the playground
// with an answer. Each view is checked for horizontal overflow (an element whose right
// edge passes the view's width) and photographed: test-results/e2e/narrow/<view>-<theme>.png.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Frame } from 'playwright-core';
import { resolveConfig } from '../../src/config';
import { claimRunFolder, writeFailure } from '../../src/train/runFolder';
import { ROOT, sleep, waitFor, withSession, type Session } from './harness';

const CLI = path.join(ROOT, 'dist', 'cli.js');
const TIMEOUT_MS = Number(process.env.ULPT_E2E_NARROW_TIMEOUT_MS) || 300_000;
const THEMES = [['dark', 'Default Dark Modern'], ['light', 'Default Light Modern']] as const;

function prepare(workspace: string): void {
  const data = path.join(workspace, 'data');
  const lines = fs.readFileSync(path.join(data, 'sentiment-validation.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, 32);
  fs.writeFileSync(path.join(data, 'small-validation.jsonl'), lines.join('\n') + '\n');
  const r = spawnSync(process.execPath, [CLI, 'train', '--config', 'ulpt.config.json', '--validation', 'data/small-validation.jsonl', '--steps', '6',
    '--eval-every', '3', '--warmup-steps', '1', '--backend', 'wasm', '--threads', '1'], { cwd: workspace, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`ulpt train failed (${r.status ?? r.signal}):\n${r.stderr}\n${r.stdout}`);
  // A run the trainer refused: its folder was claimed (as the extension does before it starts a trainer) and the
  // failure written, naming a deeply nested data file.
  const deep = path.join(workspace, 'data', 'exports-from-the-labelling-tool', 'customer-reviews-2026-q3-second-pass', 'reviews-train-deduplicated.jsonl');
  const config = resolveConfig({ model: 'model', train: path.relative(workspace, deep), method: 'ulpt', rank: 2 }, workspace);
  const dir = path.join(workspace, '.ulpt', 'runs', '2026-12-06_08-00-00_reviews-train-deduplicated-0f0f');
  claimRunFolder(dir, config);
  writeFailure(dir, {
    message: `${deep} line 17: field "label" is missing; expected a string (one of: negative, positive). The record has: text, stars, reviewer_id, created_at.`,
    tail: [], step: 0, time: new Date().toISOString(),
  });
}

/** Elements whose right edge passes the view's width (the first few), or the page itself when it scrolls sideways. */
async function overflow(frame: Frame): Promise<string[]> {
  return frame.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const out: string[] = [];
    if (document.documentElement.scrollWidth > width + 1) out.push(`the page is ${document.documentElement.scrollWidth} px wide in ${width} px`);
    for (const el of Array.from(document.body.querySelectorAll('*'))) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.height > 0 && r.right > width + 1 && el.closest('[hidden]') === null) {
        out.push(`<${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.getAttribute('data-testid') ? ` data-testid=${el.getAttribute('data-testid')}` : ''}> ends at ${Math.round(r.right)} px of ${width}`);
      }
      if (out.length >= 5) break;
    }
    return out;
  });
}

async function checkView(s: Session, frame: Frame, view: string, theme: string, problems: string[]): Promise<void> {
  await sleep(400); // the theme's colours and the charts' redraw
  for (const p of await overflow(frame)) problems.push(`${view} (${theme}): ${p}`);
  await s.screenshot(`${view}-${theme}`);
}

test('every view at 900 × 700 in a dark and a light theme: nothing runs past its edge', { timeout: TIMEOUT_MS + 60_000 }, async (t) => {
  const problems: string[] = [];
  const opts = {
    name: 'narrow', viewport: { width: 900, height: 700 }, timeoutMs: TIMEOUT_MS, log: (l: string) => t.diagnostic(l), prepareWorkspace: prepare,
    settings: { 'ulpt.backend': 'wasm', 'workbench.colorTheme': THEMES[0][1] },
  };
  await withSession(opts, async (s) => {
    await s.runCommand('View: Show ULPT').catch(async () => {
      await s.page.keyboard.press('Escape');
      await s.page.locator('.activitybar [aria-label^="ULPT"]').first().click();
    });
    const monitor = await s.frameWith('[data-testid="monitor"][data-ready="true"]', 60_000);
    await waitFor('both runs in the monitor', async () => (await monitor.$$('[data-testid="run"]')).length === 2, 30_000);
    const failed = await monitor.waitForSelector('li[data-status="failed"] [data-testid="error"]', { timeout: 30_000 });
    assert.match((await failed.textContent()) ?? '', /reviews-train-deduplicated\.jsonl line 17/);
    const finished = (await monitor.getAttribute('li[data-status="completed"]', 'data-name')) ?? '';

    // Open every view once; each is checked (and photographed) in both themes below.
    await monitor.click(`li[data-name="${finished}"] [data-action="open"]`);
    const panel = await s.frameWith('[data-testid="loss-chart"][data-points="6"]', 30_000);
    await s.openPalette();
    await s.quickPick('sentiment.ulpt', 'sentiment.ulpt');
    const inspector = await s.findWebviewFrame(async (f) => (await f.$('[data-testid="inspector"] [data-testid="neighbour-row"]')) !== null, 'the inspector with its nearest tokens', 90_000);
    await inspector.click('[data-testid="try"]:not([disabled])', { timeout: 30_000 });
    const playground = await s.frameWith('[data-testid="playground"][data-ready="true"]', 30_000);
    await playground.fill('[data-testid="input"]', 'the pizza was awful and the service slow');
    await playground.click('[data-testid="run"]:not([disabled])', { timeout: 60_000 });
    await playground.waitForSelector('[data-testid="result"] [data-testid="with-scores"] li', { timeout: 60_000 });

    // Each view anew per theme: a hidden webview is torn down and rebuilt from its state when shown again.
    const views: { view: string; tab: string; frame: () => Promise<Frame> }[] = [
      { view: 'playground', tab: 'Try: sentiment.ulpt', frame: () => s.frameWith('[data-testid="playground"][data-ready="true"]', 30_000) },
      { view: 'inspector', tab: 'sentiment.ulpt', frame: () => s.findWebviewFrame(async (f) => (await f.$('[data-testid="inspector"] [data-testid="neighbour-row"]')) !== null, 'the inspector', 90_000) },
      { view: 'panel', tab: `ULPT: ${finished}`, frame: () => s.frameWith('[data-testid="loss-chart"][data-points="6"]', 30_000) },
    ];
    for (const [theme, name] of THEMES) {
      if (name !== THEMES[0][1]) {
        // The palette's own toggle (the settings file is not re-read by code-server's browser client).
        await s.runCommand('Preferences: Toggle between Light/Dark Themes');
        await waitFor(`the ${theme} theme`, () => s.page.evaluate(() => document.querySelector('.monaco-workbench.vs') !== null), 30_000);
      }
      for (const v of views) {
        await s.showTab(v.tab);
        await checkView(s, await v.frame(), v.view, theme, problems);
      }
      await checkView(s, monitor, 'monitor', theme, problems);
    }
    void panel;
    void inspector;
  });
  assert.deepEqual(problems, [], `views that run past their edge (screenshots in test-results/e2e/narrow/):\n${problems.join('\n')}`);
});
