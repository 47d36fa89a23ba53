// ULPT Studio's VS Code side: commands, the `ulpt` task type, the training panel, the side-panel monitor and the
// run comparison, the adapter inspector (custom editor for *.ulpt) and the playground, the status bar item and the
// "ULPT" output channel. The engine (src/) runs in a trainer child process; this host only starts, follows and
// stops it, and reads the run folders it writes.
import type * as vscode from 'vscode';
import { registerCommands } from './commands/commands';
import { RunIndex } from './runs/runIndex';
import { AdapterEditor } from './views/adapterEditor';
import { CompareView } from './views/compareView';
import { MonitorView } from './views/monitorView';
import { TrainingPanel } from './views/panel';
import { Playground } from './views/playground';
import { PlaygroundService } from './views/playgroundService';
import { TrainingStatusBar } from './statusBar';
import { Studio } from './studio';
import { UlptTaskProvider } from './taskProvider';

let studio: Studio | undefined;

export function activate(context: vscode.ExtensionContext): void {
  studio = new Studio(context);
  context.subscriptions.push(studio);
  TrainingPanel.register(context, studio);
  TrainingStatusBar.register(context, studio);
  UlptTaskProvider.register(context, studio);
  registerCommands(context, studio);
  const runs = RunIndex.register(context, studio);
  MonitorView.register(context, studio, runs);
  CompareView.register(context, studio, runs);
  const playground = PlaygroundService.register(context, studio);
  AdapterEditor.register(context, studio, playground);
  Playground.register(context, studio, playground);
}

/** Trainer processes never outlive the window: end them now (their last checkpoint is kept). */
export function deactivate(): void {
  studio?.manager.dispose();
  studio = undefined;
}
