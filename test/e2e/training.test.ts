// The real scenario: train the example workspace's ulpt.config.json from VS Code, watch the training panel fill
// in, save the adapter through VS Code's save dialog, and read the file back from disk.
//
// Contract with the extension (package.json `contributes` and webview/):
//   command `ulpt.trainFromConfig` ("ULPT: Train from Config File") trains ulpt.config.json without questions and
//   opens the training panel, a webview with `#step`, `#status` (says the run finished when it did; its
//   `data-status`, when present, is the run status: completed / early-stopped / failed …), a chart container with a
//   `data-points` attribute (number of points drawn), and a `#save-adapter` button (enabled once the run has an
//   adapter) that asks where to save through showSaveDialog (default `adapters/<name>.ulpt` in the workspace).
//   On failure the panel's `#message-text` / `#message-tail`, when present, go into the error.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Frame } from 'playwright-core';
import { readAdapter } from '../../src/io/adapter';
import { contributedCommandTitles, ROOT, sleep, WaitAbort, waitFor, withSession, type Session } from './harness';

const TRAIN_COMMAND = 'ulpt.trainFromConfig';
/** Limit for the whole session; the waits for training end a minute earlier, so their own message is reported. */
const SESSION_TIMEOUT_MS = Number(process.env.ULPT_E2E_TRAIN_TIMEOUT_MS) || 480_000;
const TRAIN_TIMEOUT_MS = Math.max(SESSION_TIMEOUT_MS - 60_000, SESSION_TIMEOUT_MS / 2);

// Matched against `data-status` and the text of #status.
const FINISHED = /\b(finished|completed?|done|early-stopped|stopped early)\b/i;
const FAILED = /^(stopped|interrupted)$|\b(failed|error|cancell?ed)\b/i;

test('train from the config file, watch the panel, save the adapter', { timeout: SESSION_TIMEOUT_MS + 60_000 }, async (t) => {
  const title = contributedCommandTitles().get(TRAIN_COMMAND);
  if (!title) {
    t.skip(`package.json does not contribute ${TRAIN_COMMAND} yet`);
    return;
  }
  assert.ok(fs.existsSync(path.join(ROOT, 'examples', 'workspace', 'ulpt.config.json')), 'examples/workspace/ulpt.config.json exists');

  const session = { name: 'training', settings: { 'ulpt.backend': 'wasm' }, timeoutMs: SESSION_TIMEOUT_MS, log: (l: string) => t.diagnostic(l), prepareWorkspace: shortenConfig };
  await withSession(session, async (s) => {
    const t0 = Date.now();
    await s.runCommand(title);

    // The panel can be re-created (reload, moved editor): always look the frame up again when it went away.
    let frame: Frame | null = null;
    const panel = async () => {
      if (!frame || frame.isDetached()) frame = await s.frameWith('#status', 60_000);
      return frame;
    };
    const read = async () => {
      const f = await panel();
      const text = (await f.textContent('#status'))?.trim() ?? '';
      const state = (await f.getAttribute('#status', 'data-status')) ?? '';
      return {
        step: (await f.textContent('#step'))?.trim() ?? '',
        status: state && state !== text ? `${text} [${state}]` : text,
        failed: FAILED.test(state) || FAILED.test(text),
        finished: FINISHED.test(state) || FINISHED.test(text),
        points: Number(await f.getAttribute('[data-points]', 'data-points')) || 0,
      };
    };
    // What the panel says about a failure (message and log tail), for the error.
    const failureText = async (status: string) => {
      const f = await panel();
      const extra = await f.$$eval('#message-text, #message-tail', (els) => els.map((e) => e.textContent ?? '').join('\n')).catch(() => '');
      return `training failed: status "${status}"${extra.trim() ? `\n--- panel message ---\n${extra.trim()}` : ''}`;
    };
    // Stop waiting as soon as the panel or an error toast says the run failed.
    const checkFailed = async (r: { failed: boolean; status: string }) => {
      if (r.failed) throw new WaitAbort(await failureText(r.status));
      const errors = await s.errorNotifications();
      if (errors.length) throw new WaitAbort(`an error notification appeared: ${errors.join(' | ')}`);
    };
    await panel();
    s.timings['panel shown'] = Date.now() - t0;
    t.diagnostic(`training panel shown after ${s.timings['panel shown']} ms`);

    const first = await waitFor('the chart to show points', async () => {
      const r = await read();
      await checkFailed(r);
      return r.points > 0 ? r : null;
    }, TRAIN_TIMEOUT_MS, 500);
    t.diagnostic(`first points after ${Date.now() - t0} ms: step "${first.step}", ${first.points} points`);
    await s.screenshot('training-running');

    const done = await waitFor('the run to finish', async () => {
      const r = await read();
      await checkFailed(r);
      return r.finished ? r : null;
    }, TRAIN_TIMEOUT_MS, 1000);
    s.timings['training'] = Date.now() - t0;
    t.diagnostic(`finished after ${s.timings['training']} ms: step "${done.step}", status "${done.status}", ${done.points} points`);
    assert.ok(done.points >= first.points, 'the chart kept its points');
    await s.screenshot('training-finished');

    // The run is on disk, as the monitor and panels expect.
    const runs = path.join(s.workspace, '.ulpt', 'runs');
    const runDirs = fs.existsSync(runs) ? fs.readdirSync(runs) : [];
    assert.ok(runDirs.some((d) => fs.existsSync(path.join(runs, d, 'metrics.jsonl'))), `a run with metrics.jsonl under .ulpt/runs (found ${JSON.stringify(runDirs)})`);

    const saved = await saveThroughDialog(s, async () => {
      const f = await panel();
      await f.waitForSelector('#save-adapter:not([disabled])', { timeout: 30_000 });
      await f.click('#save-adapter');
    }, (l) => t.diagnostic(l));
    t.diagnostic(`saved ${path.relative(s.workspace, saved)}`);
    await s.screenshot('adapter-saved');

    assert.equal(path.dirname(saved), path.join(s.workspace, 'adapters'), 'saved under adapters/ in the workspace by default');
    assert.match(path.basename(saved), /\.ulpt$/);
    const adapter = readAdapter(saved);
    assert.equal(adapter.meta.format, 'ulpt-adapter');
    assert.ok(adapter.meta.num_virtual_tokens > 0);
    if (adapter.meta.method === 'ulpt') assert.ok(adapter.tensors.z && adapter.tensors.z.length === adapter.meta.num_virtual_tokens * adapter.meta.rank);
    else assert.ok(adapter.tensors.prompt);
  });
});

/** ULPT_E2E_STEPS=N trains N steps instead of the config's (in the workspace copy; evaluation every ≤ N steps). */
function shortenConfig(workspace: string): void {
  const steps = Number(process.env.ULPT_E2E_STEPS);
  if (!steps) return;
  const file = path.join(workspace, 'ulpt.config.json');
  const config = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  config.steps = steps;
  if (typeof config.evalEvery === 'number' && config.evalEvery > steps) config.evalEvery = steps;
  if (typeof config.warmupSteps === 'number' && config.warmupSteps >= steps) config.warmupSteps = Math.floor(steps / 10);
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
}

/**
 * Goes through VS Code's save dialog as a user accepting the default would. In code-server that is the "simple"
 * file dialog: a quick input holding the proposed path; Enter accepts it. It may then ask, in the same quick input,
 * to create a missing folder ("The folder adapters does not exist. Would you like to create it?") or to replace an
 * existing file: Enter (OK) again. A Yes/No quick pick or a modal dialog gets "Yes"/"Replace"/"OK". Returns the
 * accepted path once the file has been (re)written.
 */
async function saveThroughDialog(s: Session, click: () => Promise<void>, log: (line: string) => void, timeoutMs = 60_000): Promise<string> {
  const widget = s.page.locator('.quick-input-widget');
  const input = widget.locator('.quick-input-box input');
  const modal = s.page.locator('.monaco-dialog-box');
  const seen: string[] = [];
  // The file may exist before (a run can write its adapter to the same default path): wait for a new write.
  const before = new Map<string, string>();
  const dir = path.join(s.workspace, 'adapters');
  const stamp = (f: string) => { const st = fs.statSync(f); return `${st.ino}:${st.mtimeMs}:${st.size}`; };
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) before.set(path.join(dir, f), stamp(path.join(dir, f)));
  const written = (f: string) => fs.existsSync(f) && before.get(f) !== stamp(f);
  await click();
  let accepted: string | null = null;
  let enters = 0;
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await modal.isVisible()) {
      const buttons = modal.locator('.dialog-buttons .monaco-button');
      const labels = await buttons.allTextContents();
      seen.push(`modal: ${(await modal.locator('.dialog-message-text').textContent().catch(() => '')) ?? ''} ${JSON.stringify(labels)}`);
      const i = labels.findIndex((l) => /replace|overwrite|yes|save|ok/i.test(l));
      await buttons.nth(i >= 0 ? i : 0).click();
      await sleep(500);
    } else if (await widget.isVisible()) {
      const title = ((await widget.locator('.quick-input-title').textContent().catch(() => '')) ?? '').trim();
      const message = ((await widget.locator('.quick-input-message').textContent().catch(() => '')) ?? '').trim();
      const rows = await s.quickInputRows();
      const value = await input.inputValue();
      seen.push(`quick input: title "${title}", value "${value}", message "${message}"${rows.length ? `, rows ${JSON.stringify(rows)}` : ''}`);
      if (++enters > 6) throw new Error(`The save dialog did not close after ${enters - 1} confirmations:\n${seen.join('\n')}`);
      const yes = rows.findIndex((r) => /^(yes|replace|overwrite)\b/i.test(r));
      if (yes >= 0) {
        await widget.locator('.quick-input-list .monaco-list-row').nth(yes).click();
      } else {
        if (/\.ulpt$/.test(value)) accepted = value;
        await input.press('Enter');
      }
      await sleep(500);
    } else if (accepted && written(accepted)) {
      for (const step of seen) log(`save dialog: ${step}`);
      return accepted;
    } else if (enters === 0) {
      // No dialog (yet): an extension may also save straight to the default path.
      const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.ulpt')).map((f) => path.join(dir, f)) : [];
      const fresh = files.filter(written);
      if (fresh.length === 1) return fresh[0];
    }
    await sleep(250);
  }
  const toasts = await s.notifications();
  throw new Error(enters || seen.length
    ? `The adapter was not ${accepted && before.has(accepted) ? 'rewritten at' : 'written to'} "${accepted}" within ${timeoutMs} ms. Dialog steps:\n${seen.join('\n')}\nNotifications: ${JSON.stringify(toasts)}`
    : `No save dialog appeared after clicking #save-adapter. Notifications: ${JSON.stringify(toasts)}`);
}
