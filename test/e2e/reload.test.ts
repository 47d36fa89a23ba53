// Training outlives the window: a window reload in the middle of a run leaves its trainer training (the same
// process, no restart), the restored panel attaches to it with everything it showed before (Trainable, Backend,
// Device), and Stop still works afterwards, ending the run with a checkpoint.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { processAlive, processIdentity } from '../../src/train/runLock';
import { waitFor, withSession } from './harness';
import { ownerPid, panelFinder, pressStop, readPanel, readSummary, runDirs, setConfigSteps, startedCount, waitForStatus } from './panel';

const TIMEOUT_MS = Number(process.env.ULPT_E2E_TIMEOUT_MS) || 300_000;

test('a reload during training leaves the run training and the panel attached; Stop works after it', { timeout: TIMEOUT_MS + 60_000 }, async (t) => {
  // Long enough that only the test's Stop ends it, however fast the machine.
  const session = { name: 'reload', settings: { 'ulpt.backend': 'wasm' }, timeoutMs: TIMEOUT_MS, log: (l: string) => t.diagnostic(l), prepareWorkspace: (w: string) => setConfigSteps(w, 100_000) };
  await withSession(session, async (s) => {
    await s.runCommand('ULPT: Train from Config File');
    const panel = panelFinder(s);
    const before = await waitFor('a few steps', async () => {
      const r = await readPanel(await panel());
      return r.step >= 2 && r.device !== '—' ? r : null;
    }, 180_000, 500);
    const [runDir] = runDirs(s.workspace);
    const pid = ownerPid(runDir);
    assert.ok(pid, 'the trainer holds the run (lock.json)');
    const identity = processIdentity(pid);
    t.diagnostic(`before the reload: step ${before.step}, trainer pid ${pid}; ${before.owner}`);
    assert.match(before.owner, new RegExp(`process ${pid}`));
    await s.screenshot('before-reload');

    await s.reloadWindow();
    const after = await waitFor('the restored panel to show the run training on', async () => {
      const r = await readPanel(await panel());
      return r.status === 'running' && r.step > before.step ? r : null;
    }, 120_000, 500);
    t.diagnostic(`after the reload: step ${after.step}, status ${after.status}; ${after.owner}`);
    assert.equal(ownerPid(runDir), pid, 'the same trainer process holds the run');
    if (identity) assert.equal(processIdentity(pid), identity, 'and it is the same process, not a reused pid');
    assert.equal(startedCount(runDir), 1, 'the trainer was never restarted');
    assert.equal(after.name, before.name);
    for (const [k, v] of [['Trainable', after.params], ['Backend', after.backend], ['Device', after.device]]) assert.notEqual(v, '—', `${k} is shown after the reload`);
    assert.equal(after.params, before.params);
    assert.equal(after.device, before.device);
    await waitFor('the status bar to show the run again', async () => (await s.statusBarTexts()).some((x) => x.includes(after.name)), 30_000);
    await s.screenshot('after-reload');

    await pressStop(s, panel, runDir, (l) => t.diagnostic(l));
    const stopped = await waitForStatus(s, panel, ['stopped'], 120_000);
    const summary = readSummary(runDir);
    assert.equal(summary?.reason, 'stopped');
    assert.equal(summary?.steps, stopped.step);
    assert.ok(fs.existsSync(path.join(runDir, 'checkpoint.safetensors')), 'a checkpoint to resume from');
    assert.equal(ownerPid(runDir), null, 'the trainer let go of the run');
    await waitFor('the trainer process to end', () => !processAlive(pid), 30_000);
    t.diagnostic(`stopped at step ${summary?.steps}`);
    await s.screenshot('stopped-after-reload');
  });
});
