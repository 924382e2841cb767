/**
 * Which nodes need backward nodes: those between the values we differentiate with respect to
 * (trainable weights) and the values the loss gradient is seeded at (the logits). A value is on
 * the path when it depends on a source, is an ancestor of a seed, and is floating point (an
 * integer or bool value, e.g. Shape arithmetic or a mask, carries no gradient). Everything
 * else (shape arithmetic, attention masks, frozen branches) gets no backward nodes.
 *
 * An on-path node whose op has no gradient rule is an error naming the op type, the node and
 * the input through which a trainable value reaches it.
 */
import { UserError } from '../errors.js';
import type { GraphProto, NodeProto } from '../onnx/index.js';
import { gradientRule, ruleKey } from './registry.js';

export interface GradientPath {
  /** Nodes on the path, in forward order. */
  nodes: NodeProto[];
  /** Values that receive a gradient. */
  values: Set<string>;
  /** Sources that reach a seed (the others get no gradient). */
  reached: Set<string>;
}

export function gradientPath(
  graph: GraphProto,
  sources: readonly string[],
  seeds: readonly string[],
  isFloat: (value: string) => boolean,
  label = 'model',
): GradientPath {
  const nodes = graph.node ?? [];
  // Forward: which values depend on a source, remembering one source each for error messages.
  const origin = new Map<string, string>(sources.map((s) => [s, s]));
  for (const n of nodes) {
    const from = (n.input ?? []).find((i) => i && origin.has(i));
    if (from === undefined) continue;
    for (const o of n.output ?? []) if (o && isFloat(o) && !origin.has(o)) origin.set(o, origin.get(from)!);
  }
  // Backward: which of those are ancestors of a seed.
  const values = new Set<string>(seeds.filter((s) => origin.has(s)));
  const onPath: boolean[] = new Array(nodes.length).fill(false);
  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k]!;
    if (!(n.output ?? []).some((o) => values.has(o))) continue;
    onPath[k] = true;
    for (const i of n.input ?? []) if (i && origin.has(i) && isFloat(i)) values.add(i);
  }
  const pathNodes = nodes.filter((_, k) => onPath[k]);
  for (const n of pathNodes) {
    if (gradientRule(n)) continue;
    const via = (n.input ?? []).find((i) => values.has(i)) ?? '';
    throw new UserError(
      `${label}: no gradient rule for op type "${ruleKey(n)}" (node "${n.name ?? ''}"), reached through its input "${via}" ` +
        `from trainable "${origin.get(via) ?? via}"; freeze that weight or use supported ops`,
    );
  }
  const reached = new Set(sources.filter((s) => values.has(s)));
  return { nodes: pathNodes, values, reached };
}
