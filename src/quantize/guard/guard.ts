import { UserError } from '../../errors.js';
import type { ModelProto, NodeProto } from '../../onnx/index.js';
import type { QuantizeResult, QuantizeSource } from '../driver.js';
import type { QuantizeOptions } from '../options.js';
import { prepareForQuantization } from '../prepare/prepare.js';
import type { Feeds } from './feeds.js';
import { measureNodeErrors, type NodeError } from './node-error.js';
import { quantizeAnyMode, resolveAnyMode } from './quantize-any.js';
import type { StaticSource } from '../static/driver.js';

/**
 * What the guard keeps within budget: a number measured on a candidate model (an accuracy drop
 * in points, an output SQNR in dB) and whether it is within budget.
 */
export interface GuardMetric {
  /** e.g. 'accuracy drop (points)', 'output SQNR (dB)'. */
  readonly name: string;
  /** The budget as the user gave it, for the report (e.g. 'max 0.1 points'). */
  readonly budget: string;
  measure(model: ModelProto): Promise<number>;
  within(value: number): boolean;
}

export interface GuardOptions {
  metric: GuardMetric;
  /** Inputs the per-node errors are measured on (to rank nodes by how much error each adds). */
  feeds: readonly Feeds[];
  /** Stop after this many nodes reverted (default: all quantized nodes). */
  maxReverts?: number;
  onStep?: (step: GuardStep) => void;
  /** Label for messages (the input file). */
  label?: string;
  /** Where external data and (static mode) the tokenizer for calibration text are found. */
  source?: QuantizeSource & StaticSource;
}

export interface GuardStep {
  /** Nodes back in float so far, in the order they were reverted. */
  reverted: string[];
  value: number;
  within: boolean;
}

export interface RevertedNode {
  node: string;
  opType: string;
  /** The node's own output SQNR (dB) when quantized alone: why it was chosen. */
  sqnrDb: number | null;
  /** The metric after putting it back to float (and every node before it). */
  valueAfter: number;
}

export interface GuardReport {
  metric: string;
  budget: string;
  /** The metric with every eligible node quantized. */
  initialValue: number;
  finalValue: number;
  met: boolean;
  /** Nodes in float in the final model, in the order they were reverted. */
  reverted: RevertedNode[];
  /** Nodes reverted on the way but put back in int8 afterwards: the model stayed within budget without them in float. */
  restored: string[];
  /** Quantized nodes of the final model. */
  int8Nodes: number;
  /** Nodes the first pass quantized. */
  candidateNodes: number;
  /** Candidate models measured (the first included). */
  evaluations: number;
  /** Per-node error ranking the reverts followed, worst first. */
  ranking: NodeError[];
}

/**
 * Quantizes within an accuracy budget: quantize every eligible node, measure; while over budget
 * put back to float the node whose own quantization error is largest (measured: output SQNR of
 * each node quantized alone on `feeds`), re-quantize with it excluded and measure again. Stops at
 * the first model within budget, then tries each earlier revert back in int8 and keeps it there
 * when the model stays within budget, so only the nodes it must are reverted; when even the last
 * candidate is over budget the report says `met: false` and the result is the best-effort model.
 * The quantizer is called as a function with an exclude list, so it works for any mode it supports.
 */
export async function quantizeWithinBudget(input: ModelProto, options: QuantizeOptions, guard: GuardOptions): Promise<QuantizeResult & { guard: GuardReport }> {
  const model = namedNodes(prepareForQuantization(input, resolveAnyMode(options)).model);
  const userExcluded = options.excludeNodes ?? [];
  const source = { ...guard.source, label: guard.label };
  const quantize = (exclude: string[]) => quantizeAnyMode(model, { ...options, excludeNodes: [...userExcluded, ...exclude] }, source);

  let result = await quantize([]);
  let value = await guard.metric.measure(result.model);
  const initialValue = value;
  let evaluations = 1;
  const candidates = result.report.decisions.filter((d) => d.status === 'quantized').map((d) => d.node);
  guard.onStep?.({ reverted: [], value, within: guard.metric.within(value) });
  const reverted: RevertedNode[] = [];
  const restored: string[] = [];
  let ranking: NodeError[] = [];
  if (!guard.metric.within(value) && candidates.length) {
    if (guard.feeds.length === 0) throw new UserError(`${guard.label ?? 'model'}: the accuracy guard needs sample inputs to rank nodes`);
    ranking = await measureNodeErrors(model, { ...options, excludeNodes: userExcluded }, guard.feeds, source);
    const ranked = new Set(ranking.map((r) => r.node));
    // Nodes the ranking could not measure alone (a weight shared with another node) go last.
    const order = [...ranking, ...candidates.filter((c) => !ranked.has(c)).map((node) => ({ node, opType: '', sqnrDb: null }))];
    const limit = Math.min(order.length, guard.maxReverts ?? Infinity);
    const excluded: string[] = [];
    for (let i = 0; i < limit && !guard.metric.within(value); i++) {
      const next = order[i]!;
      excluded.push(next.node);
      result = await quantize(excluded);
      value = await guard.metric.measure(result.model);
      evaluations++;
      const opType = next.opType || result.report.decisions.find((d) => d.node === next.node)?.opType || '';
      reverted.push({ node: next.node, opType, sqnrDb: next.sqnrDb, valueAfter: value });
      guard.onStep?.({ reverted: [...excluded], value, within: guard.metric.within(value) });
    }
    // The ranking is per node; the budget is for the whole model. Once within budget, try each
    // earlier revert back in int8 (the last one was needed: without it the model was over) and
    // keep it there when the model stays within budget.
    if (guard.metric.within(value)) {
      for (const r of reverted.slice(0, -1).reverse()) {
        const without = excluded.filter((n) => n !== r.node);
        const candidate = await quantize(without);
        const candidateValue = await guard.metric.measure(candidate.model);
        evaluations++;
        if (!guard.metric.within(candidateValue)) continue;
        excluded.splice(0, excluded.length, ...without);
        result = candidate;
        value = candidateValue;
        restored.push(r.node);
        guard.onStep?.({ reverted: [...excluded], value, within: true });
      }
    }
  }
  const kept = reverted.filter((r) => !restored.includes(r.node));
  // Say why in the decisions too: these nodes were not excluded by the user.
  const why = new Map(kept.map((r) => [r.node, r]));
  result.report.decisions = result.report.decisions.map((d) => {
    const r = why.get(d.node);
    if (!r || d.status !== 'skipped') return d;
    const own = r.sqnrDb === null ? '' : ` (own output SQNR ${r.sqnrDb.toFixed(1)} dB)`;
    return { ...d, reason: `reverted to float by the accuracy guard${own}` };
  });
  const int8Nodes = result.report.decisions.filter((d) => d.status === 'quantized').length;
  return {
    ...result,
    guard: {
      metric: guard.metric.name,
      budget: guard.metric.budget,
      initialValue,
      finalValue: value,
      met: guard.metric.within(value),
      reverted: kept,
      restored,
      int8Nodes,
      candidateNodes: candidates.length,
      evaluations,
      ranking,
    },
  };
}

/**
 * The model with every node named (`<opType>_<index>` where the exporter left it blank), so
 * include/exclude lists can address any node. Nodes keep their order and everything else.
 */
export function namedNodes(model: ModelProto): ModelProto {
  const nodes = model.graph?.node ?? [];
  if (nodes.every((n) => n.name)) return model;
  const used = new Set(nodes.map((n) => n.name).filter(Boolean));
  const named: NodeProto[] = nodes.map((n, i) => {
    if (n.name) return n;
    let name = `${n.opType}_${i}`;
    for (let k = 1; used.has(name); k++) name = `${n.opType}_${i}_${k}`;
    used.add(name);
    return { ...n, name };
  });
  return { ...model, graph: { ...model.graph, node: named } };
}

/**
 * The per-node error report on its own: each node the options would quantize, with its own and
 * its cumulative output SQNR on `feeds`, worst first. Works on any model quantizeModel takes.
 */
export async function nodeErrorReport(input: ModelProto, options: QuantizeOptions, feeds: readonly Feeds[], source: QuantizeSource & StaticSource = {}): Promise<NodeError[]> {
  return measureNodeErrors(namedNodes(prepareForQuantization(input, resolveAnyMode(options)).model), options, feeds, source);
}
