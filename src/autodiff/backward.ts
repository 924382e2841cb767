/**
 * Appends the backward pass to a graph: walks the on-path nodes in reverse order, asks each
 * node's rule for its inputs' gradients, and sums the contributions to a value read by several
 * consumers (residual connections, Q/K/V sharing one input) before its producer's rule runs.
 */
import type { NodeProto } from '../onnx/index.js';
import type { GradEmitter } from './emit.js';
import { gradientPath } from './prune.js';
import { gradientRule, type GradContext } from './registry.js';
import { isFloatType } from './shapes.js';

export interface BackwardRequest {
  /** Values to differentiate with respect to (trainable weights, or any intermediate value). */
  wrt: readonly string[];
  /** value -> name of the gradient of the loss with respect to it (the seeds, e.g. dLoss/dLogits). */
  seeds: ReadonlyMap<string, string>;
  /** Names the model in error messages. */
  label?: string;
}

export interface BackwardResult {
  /** Gradient value for each `wrt` the seeds reach. */
  grads: Map<string, string>;
  /** `wrt` values that no seed depends on (they get no gradient). */
  unreached: string[];
  /** How many backward nodes were added. */
  nodesAdded: number;
}

export function appendBackward(e: GradEmitter, req: BackwardRequest): BackwardResult {
  const graph = e.b.graph;
  const before = graph.node!.length;
  const path = gradientPath(graph, req.wrt, [...req.seeds.keys()], (v) => isFloatType(e.facts.get(v)?.elemType), req.label);
  const parts = new Map<string, string[]>();
  const done = new Map<string, string>();
  const contribute = (value: string, g: string) => {
    if (done.has(value)) throw new Error(`autodiff: gradient of "${value}" was used before all its contributions arrived`);
    let list = parts.get(value);
    if (!list) parts.set(value, (list = []));
    list.push(g);
  };
  const total = (value: string): string | undefined => {
    const d = done.get(value);
    if (d) return d;
    const list = parts.get(value);
    if (!list || !list.length) return undefined;
    const g = e.sum(list);
    done.set(value, g);
    return g;
  };
  for (const [value, g] of req.seeds) if (path.values.has(value)) contribute(value, g);

  for (let k = path.nodes.length - 1; k >= 0; k--) {
    const node = path.nodes[k]!;
    const outputs = node.output ?? [];
    const dys = outputs.map((o) => (o && path.values.has(o) ? total(o) : undefined));
    if (dys.every((g) => g === undefined)) continue;
    gradientRule(node)!(makeContext(e, node, dys, path.values, contribute));
  }
  const grads = new Map<string, string>();
  const unreached: string[] = [];
  for (const w of req.wrt) {
    const g = total(w);
    if (g) grads.set(w, g);
    else unreached.push(w);
  }
  return { grads, unreached, nodesAdded: graph.node!.length - before };
}

function makeContext(
  e: GradEmitter,
  node: NodeProto,
  dys: (string | undefined)[],
  onPath: Set<string>,
  contribute: (value: string, g: string) => void,
): GradContext {
  const inputs = node.input ?? [];
  return {
    node,
    e,
    input: (i) => inputs[i] ?? '',
    output: (k) => node.output?.[k] ?? '',
    dy: (k = 0) => dys[k],
    needs: (i) => !!inputs[i] && onPath.has(inputs[i]!),
    grad: (i, g) => contribute(inputs[i]!, g),
    forwardOutput: (k) => {
      const outs = (node.output ??= []);
      while (outs.length <= k) outs.push('');
      if (!outs[k]) outs[k] = e.b.names.take(`${node.name || node.opType}_out${k}`);
      return outs[k]!;
    },
  };
}
