import { ExitCode, UserError } from '../errors.js';
import type { EvalReport } from './evaluator.js';

export interface GateOptions {
  /** Lowest accuracy every --model must reach: a fraction (0.8) or, above 1, a percentage (80). */
  minAccuracy?: number;
  /** Largest accuracy drop against the teacher, in percentage points. */
  maxDrop?: number;
}

export interface GateResult {
  /** non-finite: a model (or the teacher) gave NaN/infinite logits; its figures cannot pass any gate. */
  bound: 'min-accuracy' | 'max-drop' | 'non-finite';
  model: string;
  /** min-accuracy: a fraction; max-drop: points. */
  threshold: number;
  value: number;
  passed: boolean;
}

/** A min-accuracy bound as a fraction: values above 1 are read as percentages. */
export function normalizeMinAccuracy(value: number): number {
  if (!Number.isFinite(value) || value < 0 || value > 100) throw new UserError(`--min-accuracy must be a fraction (0.8) or a percentage (80), got ${value}`);
  return value > 1 ? value / 100 : value;
}

/** Checks the CI bounds on every evaluated --model (the teacher is the reference, not gated). */
export function checkGates(report: EvalReport, options: GateOptions): GateResult[] {
  const results: GateResult[] = [];
  const gated = report.models.filter((m) => m.role === 'model');
  for (const m of report.models) {
    if (m.nonFinite > 0) results.push({ bound: 'non-finite', model: m.name, threshold: 0, value: m.nonFinite, passed: false });
  }
  if (options.minAccuracy !== undefined) {
    const threshold = normalizeMinAccuracy(options.minAccuracy);
    for (const m of gated) {
      results.push({ bound: 'min-accuracy', model: m.name, threshold, value: m.accuracy, passed: m.accuracy >= threshold && m.nonFinite === 0 });
    }
  }
  if (options.maxDrop !== undefined) {
    if (!Number.isFinite(options.maxDrop)) throw new UserError(`--max-drop must be a number of points, got ${options.maxDrop}`);
    if (report.comparisons.length === 0) throw new UserError('--max-drop needs --teacher (the drop is measured against it)');
    const broken = new Set(report.models.filter((m) => m.nonFinite > 0).map((m) => m.name));
    for (const c of report.comparisons) {
      const finite = !broken.has(c.model) && !broken.has(c.teacher);
      // Rounding noise in the subtraction must not fail a gate set exactly at the drop.
      results.push({ bound: 'max-drop', model: c.model, threshold: options.maxDrop, value: c.dropPoints, passed: finite && c.dropPoints <= options.maxDrop + 1e-9 });
    }
  }
  return results;
}

/**
 * The exit code for gate results: non-finite logits first (2: the model is broken, whatever the
 * gates say), then min-accuracy failures (3), then max-drop (4), else 0.
 */
export function gateExitCode(results: readonly GateResult[]): number {
  if (results.some((r) => r.bound === 'non-finite')) return ExitCode.badInput;
  if (results.some((r) => !r.passed && r.bound === 'min-accuracy')) return ExitCode.gateMinAccuracy;
  if (results.some((r) => !r.passed && r.bound === 'max-drop')) return ExitCode.gateMaxDrop;
  return ExitCode.ok;
}
