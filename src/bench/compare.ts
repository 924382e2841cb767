import { isQuantizedKind } from './model-info.js';
import type { BenchModel, BenchRun } from './types.js';

/**
 * Sets vsBaseline on the runs of one sweep point (not on the baseline's own run). A difference
 * smaller than either result's IQR is marked as within noise.
 */
export function compareWithBaseline(atPoint: BenchRun[], baseline: number): void {
  const base = atPoint.find((r) => r.model === baseline);
  if (!base) return;
  for (const r of atPoint) {
    if (r === base) continue;
    const a = r.latencyMs;
    const b = base.latencyMs;
    r.vsBaseline = { p50Ratio: a.p50 / b.p50, withinNoise: Math.abs(a.p50 - b.p50) < Math.max(a.iqr, b.iqr) };
  }
}

/**
 * A quantized model (int8, or block-quantized int4/int8-block) slower than its fp32 baseline on
 * this CPU deserves a loud warning: quantizing bought nothing.
 */
export function int8SlowerWarnings(runs: readonly BenchRun[], models: readonly BenchModel[], baseline: number, cpu: string): string[] {
  const base = models[baseline];
  if (base?.weightKind !== 'fp32') return [];
  const warnings: string[] = [];
  for (const r of runs) {
    const kind = models[r.model]?.weightKind;
    if (!r.vsBaseline || !isQuantizedKind(kind) || r.vsBaseline.p50Ratio <= 1) continue;
    const where = `batch ${r.batchSize}${r.seqLen !== undefined ? ` seq ${r.seqLen}` : ''}`;
    warnings.push(
      `${r.label} (${kind}) is SLOWER than fp32 ${base.label} on this CPU (${cpu}) at ${where}: p50 ${r.latencyMs.p50.toFixed(2)} ms vs ` +
        `${(r.latencyMs.p50 / r.vsBaseline.p50Ratio).toFixed(2)} ms (${r.vsBaseline.p50Ratio.toFixed(2)}x); ${kind} kernels do not pay off here`,
    );
  }
  return warnings;
}

/** One warning listing the noisy results, or undefined. */
export function noisyWarning(runs: readonly BenchRun[]): string | undefined {
  const noisy = runs.filter((r) => r.noisy);
  if (noisy.length === 0) return undefined;
  const list = noisy.map((r) => `${r.label} b${r.batchSize}${r.seqLen !== undefined ? ` s${r.seqLen}` : ''}: ${r.noisy}`).join('; ');
  return `${noisy.length} of ${runs.length} results are noisy (${list}): close other programs or raise --iterations before trusting small differences`;
}
