// Trainer messages as lines for people: the "ULPT" output channel and the task terminal print the same text.
import type { RunFailure, RunSummary, TrainerMessage } from '../../src/protocol';
import { assertNever } from '../../src/protocol';
import { formatDuration, formatNumber } from '../../webview/shared/series';

const metricsText = (m: Record<string, number>) => Object.entries(m).map(([k, v]) => `${k} ${formatNumber(v)}`).join(', ');

export function summaryLines(s: RunSummary): string[] {
  const lines = [`${s.reason} after ${s.steps} steps in ${formatDuration(s.seconds * 1000)} on ${s.backend}`];
  if (s.final) lines.push(`final training loss ${formatNumber(s.final.loss)}`);
  if (s.baseline) lines.push(`un-prompted model: ${metricsText(s.baseline.metrics)}, loss ${formatNumber(s.baseline.loss)}`);
  if (s.best) lines.push(`best evaluation (step ${s.bestStep}): ${metricsText(s.best)}`);
  lines.push(s.adapter ? `adapter ${s.adapter} (${s.trainableParameters} trainable parameters)` : `run folder ${s.runDir} (resumable)`);
  return lines;
}

export function failureLines(f: Pick<RunFailure, 'message' | 'tail'>): string[] {
  const lines = f.message.split('\n');
  // The message of a crash already quotes the last lines; otherwise add them.
  if (f.tail.length && !f.message.includes(f.tail[f.tail.length - 1])) lines.push('last output:', ...f.tail.slice(-10).map((l) => `  ${l}`));
  return lines;
}

/**
 * The line(s) for one message, or none. `everyStep` prints each step (the output channel logs a step every 10%
 * of the run and at evaluations; the task terminal shows each one).
 */
export function messageLines(m: TrainerMessage, opts: { everyStep: boolean }): string[] {
  switch (m.type) {
    case 'started': {
      const method = m.config.method === 'ulpt' ? `ULPT r=${m.config.rank}` : 'prompt tuning';
      const skipped = m.backend.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
      return [
        `started ${method}, n=${m.config.promptLength}, on ${m.model.name} (${m.model.modelType}, d=${m.model.hiddenSize})${m.startStep ? `, resuming at step ${m.startStep}` : ''}`,
        `backend ${m.backend.name} — ${m.backend.device}${skipped ? ` (not used: ${skipped})` : ''}`,
        `${m.trainableParameters} trainable parameters (vanilla prompt tuning: ${m.vanillaParameters}); ${m.examples.train} training / ${m.examples.validation} validation examples; ${m.totalSteps} steps`,
        `run folder ${m.runDir}`,
      ];
    }
    case 'step': {
      const tenth = Math.max(1, Math.round(m.totalSteps / 10));
      if (!opts.everyStep && m.step % tenth !== 0 && m.step !== m.totalSteps) return [];
      return [`step ${m.step}/${m.totalSteps}  loss ${formatNumber(m.loss)}  lr ${m.lr.toExponential(2)}  ${Math.round(m.tokensPerSecond)} tok/s  ETA ${formatDuration(m.etaMs)}`];
    }
    case 'eval':
      return [`eval @ step ${m.step}: loss ${formatNumber(m.loss)}, ${metricsText(m.metrics)}${m.best ? ' (best so far)' : ''}`];
    case 'baseline':
      return [`un-prompted model: loss ${formatNumber(m.loss)}, ${metricsText(m.metrics)}`];
    case 'checkpoint':
      return opts.everyStep ? [`checkpoint at step ${m.step}`] : [];
    case 'adapter':
      return m.reason === 'final' ? [`adapter written: ${m.path}`] : [];
    case 'log':
      return [m.level === 'warn' ? `warning: ${m.message}` : m.message];
    case 'finished':
      return summaryLines(m.summary);
    case 'error':
      return [`error: ${m.message}`];
    default:
      return assertNever(m);
  }
}

/**
 * A message of several lines as one notification line (notifications drop line breaks, which ran a config's
 * problems into one another): a list after a line ending in ":" is numbered, "(1) …; (2) …".
 */
export function notificationText(message: string): string {
  const [first = '', ...rest] = message.split('\n').map((l) => l.trim()).filter(Boolean);
  if (!rest.length) return first;
  return first.endsWith(':') ? `${first} ${rest.map((l, i) => `(${i + 1}) ${l}`).join('; ')}` : `${first} ${rest.join('; ')}`;
}
