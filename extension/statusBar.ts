// The status bar item of the run in progress: step, loss, ETA in the tooltip; a click opens its panel.
import * as vscode from 'vscode';
import { formatDuration, formatNumber } from '../webview/shared/series';
import type { TrainingSession } from './runs/session';
import type { Studio } from './studio';

export class TrainingStatusBar implements vscode.Disposable {
  static register(context: vscode.ExtensionContext, studio: Studio): TrainingStatusBar {
    const bar = new TrainingStatusBar(studio);
    context.subscriptions.push(bar);
    return bar;
  }

  private readonly item: vscode.StatusBarItem;
  private readonly disposables: vscode.Disposable[] = [];

  private constructor(private readonly studio: Studio) {
    this.item = vscode.window.createStatusBarItem('ulpt.training', vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'ULPT Training';
    this.disposables.push(
      this.item,
      studio.manager.onDidStart(() => this.update()),
      studio.manager.onEvent((_s, e) => {
        if (e.kind === 'output') return;
        if (e.kind === 'message' && e.message.type !== 'step' && e.message.type !== 'started') return;
        this.update();
      }),
    );
  }

  private update(): void {
    const s: TrainingSession | undefined = this.studio.manager.latest();
    if (!s) {
      this.item.hide();
      return;
    }
    const others = this.studio.manager.all().length - 1;
    const step = s.lastStep;
    const progress = step ? `${step.step}/${step.totalSteps} · loss ${formatNumber(step.loss, 3)}` : 'starting…';
    this.item.text = s.state === 'stopping' ? `$(debug-stop) ${s.title} stopping… ${progress}` : `$(sync~spin) ${s.title}: ${progress}${others > 0 ? ` (+${others} more)` : ''}`;
    const tip = new vscode.MarkdownString(undefined, true);
    tip.appendMarkdown(`**ULPT: ${s.title}**\n\n`);
    if (step) tip.appendMarkdown(`step ${step.step} of ${step.totalSteps}, loss ${formatNumber(step.loss)}, ETA ${formatDuration(step.etaMs)}\n\n`);
    if (s.started) tip.appendMarkdown(`${s.started.backend.name} — ${s.started.backend.device}\n\n`);
    tip.appendMarkdown('Click to open the training panel.');
    this.item.tooltip = tip;
    this.item.command = { command: 'ulpt.openPanel', title: 'Open Training Panel', arguments: [s.runDir] };
    this.item.show();
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
