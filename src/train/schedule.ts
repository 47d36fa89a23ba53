/**
 * Learning rate at optimiser step `step` (0-based): linear warm-up from 0 over `warmup` steps, then linear decay
 * to 0 at `total` — the same formula as Hugging Face's get_linear_schedule_with_warmup, so runs compare.
 */
export function learningRate(base: number, step: number, warmup: number, total: number): number {
  if (step < warmup) return (base * step) / Math.max(1, warmup);
  return base * Math.max(0, (total - step) / Math.max(1, total - warmup));
}
