// The palette commands (category "ULPT"). Each takes optional arguments so menus, the panel, notifications and
// tests can call it without questions; without them it asks.
//   ulpt.train                         → run folder        quick picks, then train and open the panel
//   ulpt.trainFromConfig [uri]          → run folder        a training config file, no questions
//   ulpt.stop [runDir]                                       first: stop after this step; again: end at once
//   ulpt.resume [runDir]               → run folder        an interrupted, stopped or failed run with a checkpoint
//   ulpt.openPanel [runDir]
//   ulpt.saveAdapter [runDir] [target] [{ overwrite }] → saved file
//   ulpt.exportPeft [adapter|runDir] [outDir]        → export folder
//   ulpt.exportJob [configFile]        → job folder        a folder to copy to a cluster (PyTorch engine, torchrun)
import * as path from 'node:path';
import * as vscode from 'vscode';
import { exportPeftAdapter, saveAdapter } from './adapters';
import { exportTrainingJob } from './exportJob';
import { checkInputs, loadConfigFile } from './configFile';
import { isConfigFileName, SEARCH_EXCLUDE } from './discovery';
import { TrainingPanel, reportError } from '../views/panel';
import { describeRun, folderDescription, pickRun } from './pickers';
import { newRunId, readRunFiles, runTitle } from '../runs/runStore';
import { UserError, type Studio } from '../studio';
import { stopTarget } from '../runs/stopTarget';
import { CONFIG_GLOB } from '../taskProvider';
import { trainingSetupFromQuestions } from './trainFlow';

const asPath = (a: unknown): string | undefined => (typeof a === 'string' ? a : a instanceof vscode.Uri ? a.fsPath : undefined);

export function registerCommands(context: vscode.ExtensionContext, studio: Studio): void {
  const register = (id: string, handler: (...args: unknown[]) => unknown) =>
    context.subscriptions.push(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          return await handler(...args);
        } catch (e) {
          await reportError(studio, e);
          return undefined;
        }
      }),
    );

  register('ulpt.train', async () => {
    studio.assertTrusted();
    const setup = await trainingSetupFromQuestions(studio);
    if (!setup) return undefined;
    if (setup.kind === 'config') return vscode.commands.executeCommand('ulpt.trainFromConfig', vscode.Uri.file(setup.file));
    if (setup.kind === 'job') return exportTrainingJob(studio, setup.file);
    const config = await studio.confirmOut(setup.config);
    if (!config) return undefined;
    studio.start(config, setup.runDir, false);
    TrainingPanel.show(studio, setup.runDir);
    return setup.runDir;
  });

  register('ulpt.trainFromConfig', async (arg?: unknown) => {
    studio.assertTrusted();
    const file = await findConfigFile(asPath(arg));
    if (!file) return undefined;
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === file);
    if (doc?.isDirty) await doc.save();
    const loaded = loadConfigFile(file, { defaultBackend: studio.defaultBackend(), defaultEngine: studio.defaultEngine() });
    const name = loaded.runName;
    const config = await studio.confirmOut(loaded.config);
    if (!config) return undefined;
    const runDir = path.join(studio.runsDir(studio.rootFor(file)), newRunId(name));
    studio.start(config, runDir, false);
    TrainingPanel.show(studio, runDir);
    return runDir;
  });

  register('ulpt.stop', async (arg?: unknown) => {
    const runDir = asPath(arg);
    let session = runDir ? studio.manager.get(runDir) : undefined;
    if (!session) {
      const live = studio.manager.all();
      const target = stopTarget(live, studio.lastStopRequest, Date.now());
      if (target === null) {
        void vscode.window.showInformationMessage('ULPT: no training is running in this window.');
        return;
      }
      if (target !== 'ask') session = target;
      else {
        // Stopping runs are listed too: picking one again ends its process at once.
        const items = studio.listRuns().flatMap((r) => {
          const s = studio.manager.get(r.dir);
          return s && s.state !== 'ended' ? [{ ...describeRun(r), session: s }] : [];
        });
        const picked = await vscode.window.showQuickPick(items, { placeHolder: 'Stop which run? (a run already stopping is ended at once)', matchOnDescription: true });
        session = picked?.session;
      }
    }
    if (session) studio.stop(session);
  });

  register('ulpt.resume', async (arg?: unknown) => {
    studio.assertTrusted();
    let runDir = asPath(arg);
    if (!runDir) {
      const run = await pickRun(studio, (r) => r.resumable, { placeHolder: 'Resume which run?', none: 'No run can be resumed: a run is resumable when it was stopped, interrupted or failed after writing a checkpoint.', askIfOne: true });
      if (!run) return undefined;
      runDir = run.dir;
    }
    const { config, hasCheckpoint } = readRunFiles(runDir);
    if (!config) throw new UserError(`${runDir} is not a run folder: it has no config.json.`);
    if (!hasCheckpoint) throw new UserError(`${runTitle(runDir)} has no checkpoint to resume from.`);
    checkInputs(config, path.join(runDir, 'config.json'));
    studio.start(config, runDir, true);
    TrainingPanel.show(studio, runDir);
    return runDir;
  });

  register('ulpt.openPanel', async (arg?: unknown) => {
    let runDir = asPath(arg) ?? studio.manager.latest()?.runDir;
    if (!runDir) {
      if (!studio.listRuns().length) {
        const choice = await vscode.window.showInformationMessage('ULPT: no training runs in this workspace yet.', 'Train Prompt Adapter…', 'Train from Config File');
        if (choice === 'Train Prompt Adapter…') return vscode.commands.executeCommand('ulpt.train');
        if (choice === 'Train from Config File') return vscode.commands.executeCommand('ulpt.trainFromConfig');
        return undefined;
      }
      const run = await pickRun(studio, () => true, { placeHolder: 'Show which run?', none: '', askIfOne: true });
      if (!run) return undefined;
      runDir = run.dir;
    }
    TrainingPanel.show(studio, runDir);
    return runDir;
  });

  register('ulpt.saveAdapter', (arg?: unknown, target?: unknown, opts?: unknown) =>
    saveAdapter(studio, asPath(arg), asPath(target), (opts as { overwrite?: boolean } | undefined) ?? {}));

  register('ulpt.exportPeft', (arg?: unknown, outDir?: unknown) => exportPeftAdapter(studio, asPath(arg), asPath(outDir)));

  register('ulpt.exportJob', async (arg?: unknown) => {
    const file = await findConfigFile(asPath(arg), 'Export a job from which config file?');
    return file ? exportTrainingJob(studio, file) : undefined;
  });
}

/** The config file to train from: the argument, the active editor's config file, the root ulpt.config.json, or a pick. */
async function findConfigFile(arg?: string, placeHolder = 'Train from which config file?'): Promise<string | undefined> {
  if (arg) return arg;
  const active = vscode.window.activeTextEditor?.document;
  if (active?.uri.scheme === 'file' && isConfigFileName(active.fileName)) return active.fileName;
  const uris = (await vscode.workspace.findFiles(CONFIG_GLOB, SEARCH_EXCLUDE, 100)).map((u) => u.fsPath).sort();
  if (!uris.length) {
    throw new UserError('No training config file in the workspace (ulpt.config.json or *.ulpt.json, with at least "model" and "train").', [
      { title: 'Train Prompt Adapter…', run: () => vscode.commands.executeCommand('ulpt.train') },
    ]);
  }
  const roots = (vscode.workspace.workspaceFolders ?? []).map((f) => path.join(f.uri.fsPath, 'ulpt.config.json'));
  const atRoot = uris.filter((u) => roots.includes(u));
  if (uris.length === 1 || atRoot.length === 1) return atRoot[0] ?? uris[0];
  const picked = await vscode.window.showQuickPick(uris.map((u) => ({ label: path.basename(u), description: folderDescription(path.dirname(u)), file: u })), { placeHolder });
  return picked?.file;
}
