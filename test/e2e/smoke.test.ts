// Smoke: the built extension loads in a real VS Code (code-server) and its commands reach the palette.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { alwaysInPalette, extensionId, installExtension, listExtensions, manifest, waitFor, withSession } from './harness';

test('code-server finds the extension in the extensions dir', { timeout: 90_000 }, () => {
  const m = manifest();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ulpt-e2e-list-'));
  try {
    const dest = installExtension(path.join(tmp, 'extensions'));
    assert.equal(path.basename(dest), `${m.publisher}.${m.name}-${m.version}`);
    assert.ok(fs.existsSync(path.join(dest, 'package.json')), 'package.json copied');
    fs.mkdirSync(path.join(tmp, 'user-data'));
    fs.writeFileSync(path.join(tmp, 'user-data', 'config.yaml'), 'auth: none\n');
    const listed = listExtensions(path.join(tmp, 'extensions'), path.join(tmp, 'user-data'));
    assert.ok(listed.includes(`${extensionId(m)}@${m.version}`), `listed: ${JSON.stringify(listed)}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('the workbench loads, lists the extension and offers its commands', { timeout: 240_000 }, async (t) => {
  const m = manifest();
  const id = extensionId(m);
  await withSession({ name: 'smoke', settings: { 'ulpt.backend': 'wasm' }, log: (l) => t.diagnostic(l) }, async (s) => {
    await s.screenshot('workbench');

    // The Extensions view, filtered to installed extensions, shows ours: VS Code picked it up.
    await s.runCommand('View: Show Extensions');
    const search = s.page.locator('.extensions-viewlet .suggest-input-container .monaco-editor textarea').first();
    await search.waitFor({ state: 'attached', timeout: 15_000 });
    await search.focus();
    await s.page.keyboard.press('Control+A');
    await s.page.keyboard.type('@installed');
    const name = m.displayName ?? m.name;
    await waitFor(`"${name}" in the installed extensions list`, async () => {
      const names = await s.page.$$eval('.extensions-viewlet .extension-list-item .name', (els) => els.map((e) => e.textContent ?? ''));
      return names.some((n) => n.trim() === name);
    }, 30_000);
    await s.screenshot('extensions-installed');

    // Every contributed "ULPT: …" command that is not conditional is in the palette.
    const titles = alwaysInPalette(m).filter((title) => title.startsWith('ULPT: '));
    if (titles.length === 0) {
      t.diagnostic('package.json contributes no "ULPT: …" commands yet: checking a built-in command instead');
      assert.ok(await s.hasCommand('Developer: Show Running Extensions'), 'built-in command in the palette');
    }
    for (const title of titles) assert.ok(await s.hasCommand(title), `"${title}" is in the command palette`);

    // Opening the training panel activates the extension (if that command exists yet).
    if (titles.includes('ULPT: Open Training Panel')) {
      await s.runCommand('ULPT: Open Training Panel');
      await waitFor(`${id} to activate`, () => s.extensionHostLog().includes(`_doActivateExtension ${id}`), 30_000);
      await s.screenshot('open-training-panel');
    }
    const failed = s.extensionHostLog().split('\n').filter((l) => l.includes(`Activating extension '${id}' failed`) || l.includes(`Activating extension ${id} failed`));
    assert.deepEqual(failed, [], 'activation errors in the extension host log');
  });
});
