// "ULPT: Export Training Job for a Cluster…": a training config becomes a folder to copy to a cluster (the job
// tokenized, the PyTorch engine, launch.sh for torchrun, a SLURM script). The work is `ulpt export-job`, run by the
// bundled CLI in a child process (it tokenizes the whole dataset: not the extension host's job), with progress and
// Cancel; its refusals come back as the CLI's own one-line messages.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { trainerLaunch } from '../runs/launch';
import { UserError, type Studio } from '../studio';
import { freeFileName } from './wizardText';

export interface ExportedJobView {
  dir: string;
  examples: { train: number; validation: number };
}

/** Runs `dist/cli.js export-job --config FILE --out DIR --json` with the trainer's Node; resolves with what it wrote. */
function runExport(studio: Studio, configFile: string, outDir: string, token: vscode.CancellationToken): Promise<ExportedJobView> {
  const cli = path.join(studio.context.extensionPath, 'dist', 'cli.js');
  const launch = trainerLaunch(studio.launchSettings(), { execPath: process.execPath, versions: process.versions, env: process.env });
  return new Promise((resolve, reject) => {
    const child = execFile(launch.execPath, [cli, 'export-job', '--config', configFile, '--out', outDir, '--json'],
      { env: launch.env, cwd: path.dirname(configFile), maxBuffer: 16 * 2 ** 20 }, (error, stdout, stderr) => {
        if (token.isCancellationRequested) return reject(new vscode.CancellationError());
        if (error) {
          // The CLI's own sentence ("ulpt: …" on stderr), never a stack.
          const said = stderr.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('ulpt: ') && !l.startsWith('ulpt: warning')).at(-1);
          return reject(new UserError(said ? said.slice('ulpt: '.length) : `ulpt export-job failed: ${error.message}`));
        }
        try {
          resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as ExportedJobView);
        } catch {
          reject(new Error(`ulpt export-job printed no result: ${stdout.slice(0, 200)}`));
        }
      });
    token.onCancellationRequested(() => child.kill());
  });
}

/** Asks where the job goes (a new folder under jobs/ by default), exports it, and offers to show it. */
export async function exportTrainingJob(studio: Studio, configFile: string): Promise<string | undefined> {
  studio.assertTrusted();
  const root = studio.rootFor(configFile);
  const name = path.basename(configFile).replace(/\.json$/, '').replace(/\.ulpt$|\.config$/, '').replace(/^ulpt$/, 'job');
  const suggestion = path.relative(root, freeFileName(path.join(root, 'jobs'), name, ''));
  const answer = await vscode.window.showInputBox({
    title: `Export Training Job: ${path.basename(configFile)}`,
    prompt: 'Folder for the job (new or empty), relative to the workspace: copy it to the cluster and run its launch.sh',
    value: suggestion,
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() ? undefined : 'Name a folder.'),
  });
  if (!answer) return undefined;
  const outDir = path.resolve(root, answer.trim());
  const job = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `ULPT: preparing the job from ${path.basename(configFile)} (tokenizing the data)…`, cancellable: true },
    (_progress, token) => runExport(studio, configFile, outDir, token),
  );
  const rel = vscode.workspace.asRelativePath(job.dir);
  studio.output.info(`exported a training job to ${job.dir} (${job.examples.train} training, ${job.examples.validation} validation examples)`);
  const choice = await vscode.window.showInformationMessage(
    `ULPT: the job is in ${rel} (${job.examples.train} training examples, tokenized). Copy it to the cluster and run launch.sh or sbatch slurm.sbatch (its README says how).`,
    'Open README', 'Reveal in Explorer',
  );
  if (choice === 'Open README') await vscode.window.showTextDocument(vscode.Uri.file(path.join(job.dir, 'README.md')));
  if (choice === 'Reveal in Explorer') await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(path.join(job.dir, 'launch.sh')));
  return job.dir;
}
