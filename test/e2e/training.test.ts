// The real scenario: train the example workspace's ulpt.config.json from VS Code, watch the training panel fill
// in, save the adapter through VS Code's save dialog, and read the file back from disk. Then start the config twice
// more (the second start asks first: both runs would write the same adapter file), see three runs with distinct
// names in the tabs and the status bar, and stop the two running ones (the palette's picker, a panel's button).
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
import { readAdapter } from '../../src/io/adapter';
import { contributedCommandTitles, ROOT, sleep, WaitAbort, waitFor, withSession, type Session } from './harness';
import { ownerPid, panelFinder, pressStop, readPanel, readSummary, runDirs, setConfigSteps, waitForFinish, waitForStatus } from './panel';

const TRAIN_COMMAND = 'ulpt.trainFromConfig';
/** Limit for the whole session; the waits for training end a minute earlier, so their own message is reported. */
const SESSION_TIMEOUT_MS = Number(process.env.ULPT_E2E_TRAIN_TIMEOUT_MS) || 480_000;
const TRAIN_TIMEOUT_MS = Math.max(SESSION_TIMEOUT_MS - 60_000, SESSION_TIMEOUT_MS / 2);

test('train from the config file, watch the panel, save the adapter; two more runs of it have distinct names', { timeout: SESSION_TIMEOUT_MS + 60_000 }, async (t) => {
  const title = contributedCommandTitles().get(TRAIN_COMMAND);
  assert.ok(title, `package.json contributes ${TRAIN_COMMAND}`);
  assert.ok(fs.existsSync(path.join(ROOT, 'examples', 'workspace', 'ulpt.config.json')), 'examples/workspace/ulpt.config.json exists');

  const session = { name: 'training', settings: { 'ulpt.backend': 'wasm' }, timeoutMs: SESSION_TIMEOUT_MS, log: (l: string) => t.diagnostic(l), prepareWorkspace: (w: string) => setConfigSteps(w) };
  await withSession(session, async (s) => {
    const t0 = Date.now();
    await s.runCommand(title);
    const panel = panelFinder(s);
    await panel();
    s.timings['panel shown'] = Date.now() - t0;
    t.diagnostic(`training panel shown after ${s.timings['panel shown']} ms`);

    const first = await waitFor('the chart to show points', async () => {
      const r = await readPanel(await panel());
      if (r.status === 'failed') throw new WaitAbort(`training failed: ${r.message}`);
      return r.points > 0 ? r : null;
    }, TRAIN_TIMEOUT_MS, 500);
    t.diagnostic(`first points after ${Date.now() - t0} ms: step ${first.step}, ${first.points} points`);
    await s.screenshot('training-running');

    const done = await waitForFinish(s, panel, TRAIN_TIMEOUT_MS);
    s.timings['training'] = Date.now() - t0;
    t.diagnostic(`finished after ${s.timings['training']} ms: step ${done.step}, status ${done.status}, ${done.points} points`);
    assert.ok(done.points >= first.points, 'the chart kept its points');
    assert.match(done.name, /^sentiment · ULPT r=2 · [0-9a-f]{4}$/, 'the run is named after the config, the method and a suffix');
    for (const v of [done.params, done.backend, done.device]) assert.notEqual(v, '—');
    await s.screenshot('training-finished');

    // The run is on disk, as the monitor and panels expect.
    const [runDir] = runDirs(s.workspace);
    assert.ok(runDir && fs.existsSync(path.join(runDir, 'metrics.jsonl')), `a run with metrics.jsonl under .ulpt/runs`);

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

    // Two more runs of the same config: the second is started while the first trains and writes the same `out`,
    // so it asks first; both then have names that tell them apart, in the tabs and in the panels. The config is
    // made long enough (100,000 steps) that both still train when they are stopped, however fast the machine.
    setConfigSteps(s.workspace, 100_000);
    await s.runCommand(title);
    // The first run's adapter is on disk now: a new run of the config asks before it would replace it.
    const replace = await s.answerModal(/replace it/i);
    t.diagnostic(`asked: ${replace}`);
    assert.match(replace, /adapters\/sentiment\.ulpt already holds an adapter \(ULPT r=2, accuracy 0\.\d{4}, made \d{4}-\d\d-\d\d \d\d:\d\d\)/);
    await waitFor('a second run to start', () => runDirs(s.workspace).length === 2 && ownerPid(runDirs(s.workspace)[1]) !== null, 60_000);
    await s.runCommand(title);
    const question = await s.answerModal(/start anyway/i);
    t.diagnostic(`asked: ${question}`);
    assert.match(question, /sentiment · ULPT r=2 · [0-9a-f]{4} is training now and will write adapters\/sentiment\.ulpt/);
    await waitFor('a third run to start', () => runDirs(s.workspace).length === 3, 60_000);
    const names = await waitFor('three distinct run tabs', async () => {
      const tabs = (await s.tabTitles()).filter((n) => n.startsWith('ULPT: sentiment'));
      return new Set(tabs).size === 3 ? tabs : null;
    }, 60_000);
    t.diagnostic(`tabs: ${JSON.stringify(names)}`);
    const bar = (await s.statusBarTexts()).find((x) => x.includes('sentiment · ULPT r=2'));
    assert.ok(bar, `the status bar names the run: ${JSON.stringify(await s.statusBarTexts())}`);
    await s.screenshot('two-runs');

    // Stop both: one through the palette, whose picker tells them apart (name, date, status), one from its panel.
    const [second, third] = names.slice(1).map((n) => n.replace(/^ULPT: /, ''));
    // The newest panel showing its run first: a webview that finishes loading takes the focus, which closes a quick pick.
    await waitForStatus(s, panelFinder(s, (n) => n === third), ['running'], 60_000);
    const input = s.page.locator('.quick-input-widget .quick-input-box input');
    for (let attempt = 1; ; attempt++) {
      await s.runCommand('ULPT: Stop Training');
      await waitFor('the Stop picker', async () => (await s.quickInputRows()).some((r) => r.includes(third)), 15_000);
      const rows = await s.quickInputRows();
      t.diagnostic(`stop picker: ${JSON.stringify(rows)}`);
      assert.ok(rows.some((r) => r.includes(second)) && rows.some((r) => r.includes(third)), 'both running runs are offered, by name');
      assert.ok(rows.every((r) => /running|stopping/.test(r)), 'with their status');
      await s.screenshot('stop-picker');
      // By keyboard, as people pick from a list: filter to the one run, Enter.
      const filtered = await input.fill(third, { timeout: 5_000 }).then(() => true, () => false);
      if (filtered) break;
      await s.screenshot('stop-picker-closed');
      t.diagnostic(`the Stop picker closed before it could be filtered (attempt ${attempt}); opening it again`);
      if (attempt === 2) assert.fail('the Stop picker closed twice before a run could be picked (screenshot stop-picker-closed)');
    }
    await waitFor('the filter to leave one run', async () => (await s.quickInputRows()).length === 1, 10_000);
    await input.press('Enter');
    await s.showTab(`ULPT: ${second}`);
    const secondDir = runDirs(s.workspace).find((d) => d.endsWith(`-${second.slice(-4)}`)); // "… · 7f3a" trains in "…-7f3a"
    assert.ok(secondDir, `the run folder of ${second}`);
    await pressStop(s, panelFinder(s, (n) => n === second), secondDir, (l) => t.diagnostic(l));
    for (const name of [second, third]) {
      await s.showTab(`ULPT: ${name}`);
      await waitForStatus(s, panelFinder(s, (n) => n === name), ['stopped'], TRAIN_TIMEOUT_MS);
    }
    await s.screenshot('two-runs-stopped');
    const dirs = runDirs(s.workspace);
    assert.deepEqual(dirs.map((d) => readSummary(d)?.reason), ['completed', 'stopped', 'stopped']);
  });
});

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
