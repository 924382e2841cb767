import { attrFloat, type GraphProto, type NodeProto } from '../../onnx/index.js';
import type { NodeDecision } from '../report.js';
import { fusedActivationOps, staticRules } from '../ops/static-registry.js';
import type { ConstantLookup } from './constants.js';
import type { ResolvedStaticOptions } from './options.js';
import type { QdqPlan, StaticPlanContext, StaticQuantizeRule } from './rule.js';

/** An activation read through QuantizeLinear -> DequantizeLinear. */
export interface ActivationEntry {
  /** The value readers see (the Relu's output when a Relu is folded). */
  name: string;
  /** The value QuantizeLinear reads (the Relu's input when folded, else `name`). */
  source: string;
  /** Reuses this entry's scale and zero point (pass-through ops) instead of its own range. */
  sharedWith?: string;
  /** Index of the Relu/Clip node folded into the range. */
  fused?: number;
}

export interface PlannedNode {
  rule: StaticQuantizeRule;
  plan: QdqPlan;
}

export interface StaticPlan {
  planned: Map<number, PlannedNode>;
  /** Keyed by ActivationEntry.name. */
  activations: Map<string, ActivationEntry>;
  /** Skips (and, after emission, quantized nodes), by node index. */
  decisions: Map<number, NodeDecision>;
  labels: string[];
}

/**
 * Decides which nodes are quantized and which activations get QuantizeLinear/DequantizeLinear:
 * 1. compute nodes (Conv, MatMul, Gemm, Gather, Add/Mul when selected) by their rules; their
 *    computed inputs become activations;
 * 2. pass-through ops (pooling, Resize, Concat, reshape-like) whose input comes out of a quantized
 *    node, in graph order, output sharing the input's scale (Concat: own range);
 * 3. Relu and Clip(min 0) right after a quantized node fold into its output's range: the range is
 *    calibrated on the Relu's output, so QuantizeLinear's clamp at the zero point is the Relu.
 * `excluded` nodes are skipped with the reason given (values found not to be float32).
 */
export function planStatic(
  graph: GraphProto,
  constants: ConstantLookup,
  options: ResolvedStaticOptions,
  opset: number,
  excluded: Map<number, string> = new Map(),
): StaticPlan {
  const nodes = graph.node ?? [];
  const labels = nodes.map((n, i) => n.name || `${n.opType}#${i}`);
  const ctx: StaticPlanContext = {
    options,
    opset,
    constantWeight: (name) => constants.weight(name, options.minElements),
    constantInfo: (name) => constants.info(name),
    constantValues: (name) => constants.values(name),
  };
  const selected = new Set(options.opTypes);
  const decisions = new Map<number, NodeDecision>();
  const planned = new Map<number, PlannedNode>();
  const activations = new Map<string, ActivationEntry>();
  const producer = new Map<string, number>();
  const readers = new Map<string, number[]>();
  nodes.forEach((n, i) => {
    for (const o of n.output ?? []) if (o) producer.set(o, i);
    for (const inp of n.input ?? []) if (inp) readers.set(inp, [...(readers.get(inp) ?? []), i]);
  });
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));

  const ruleOf = (n: NodeProto) => staticRules.get(`${n.domain === 'ai.onnx' ? '' : (n.domain ?? '')}:${n.opType}`);
  const skip = (i: number, opType: string, reason: string) => decisions.set(i, { node: labels[i]!, opType, status: 'skipped', reason });
  const addActivation = (name: string) => {
    if (!activations.has(name)) activations.set(name, { name, source: name });
  };
  const named = (i: number) => {
    const n = nodes[i]!;
    if (n.name && options.excludeNodes.includes(n.name)) return 'excluded by --exclude-nodes';
    if (options.includeNodes && !(n.name && options.includeNodes.includes(n.name))) return 'not in --include-nodes';
    return excluded.get(i);
  };

  // 1. compute nodes
  nodes.forEach((n, i) => {
    const rule = ruleOf(n);
    if (!rule) return;
    if (!rule.domain && !selected.has(rule.opType)) return;
    const probe = rule.plan(n, ctx);
    if ('skip' in probe) return skip(i, n.opType!, probe.skip);
    if (probe.when) return;
    const why = named(i);
    if (why) return skip(i, n.opType!, why);
    planned.set(i, { rule, plan: probe });
    for (const k of probe.activations) addActivation(n.input![k]!);
    // The integer op (QLinearConv, ...) writes a quantized output, so that output needs a range.
    const out = n.output?.[0];
    if (options.format === 'qoperator' && rule.qoperator && out && !graphOutputs.has(out)) addActivation(out);
  });

  // 2. pass-through ops, in graph order so chains (Relu -> MaxPool -> Reshape) follow along.
  const quantizedOutput = (value: string): boolean => {
    const p = producer.get(value);
    if (p === undefined) return false;
    if (planned.has(p)) return !planned.get(p)!.plan.gatherRows;
    const n = nodes[p]!;
    return fusedActivationOps.includes(n.opType ?? '') && selected.has(n.opType!) && !!n.input?.[0] && quantizedOutput(n.input[0]);
  };
  nodes.forEach((n, i) => {
    const rule = ruleOf(n);
    if (!rule || rule.domain || !selected.has(rule.opType) || planned.has(i) || decisions.has(i)) return;
    const plan = rule.plan(n, ctx);
    if ('skip' in plan || !plan.when) return;
    const inputs = plan.activations.map((k) => n.input![k]!);
    const triggered = plan.when === 'any' ? inputs.some(quantizedOutput) : quantizedOutput(inputs[0]!);
    if (!triggered) return;
    const why = named(i);
    if (why) return skip(i, n.opType!, why);
    planned.set(i, { rule, plan });
    for (const v of inputs) addActivation(v);
    const out = n.output![0]!;
    if (plan.output === 'shared') activations.set(out, { name: out, source: out, sharedWith: inputs[0]! });
    else addActivation(out);
  });

  // 3. Relu / Clip(min 0) folded into the producer's range. Only with asymmetric activations:
  // a symmetric range puts the zero point mid-range, and QuantizeLinear's clamp is no Relu then.
  nodes.forEach((n, i) => {
    if (options.calibration.activationSymmetric) return;
    if (!fusedActivationOps.includes(n.opType ?? '') || (n.domain && n.domain !== 'ai.onnx') || !selected.has(n.opType!)) return;
    const x = n.input?.[0];
    const y = n.output?.[0];
    if (!x || !y) return;
    const p = producer.get(x);
    if (p === undefined || !planned.has(p) || planned.get(p)!.plan.gatherRows) return;
    if (!activations.has(y) && !activations.has(x)) return;
    if ((readers.get(x) ?? []).length !== 1 || graphOutputs.has(x)) return;
    if (n.opType === 'Clip' && !clipStartsAtZero(n, constants, opset)) return;
    if (named(i)) return;
    activations.delete(x);
    activations.set(y, { name: y, source: x, fused: i });
  });

  return { planned, activations, decisions, labels };
}

/** Clip whose lower bound is 0 (the only Clip a quantized range reproduces exactly). */
function clipStartsAtZero(n: NodeProto, constants: ConstantLookup, opset: number): boolean {
  if (opset < 11) return attrFloat(n, 'min', -3.4028234663852886e38) === 0;
  const min = n.input?.[1];
  if (!min) return false;
  const v = constants.values(min);
  return v !== undefined && v.length === 1 && v[0] === 0;
}
