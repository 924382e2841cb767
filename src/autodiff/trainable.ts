/**
 * Which initializers train. By default every float32 initializer of rank >= 1 (weights,
 * biases, embedding tables, LayerNorm parameters; rank-0 initializers are constants such as
 * scales and epsilons). `freeze` patterns remove some:
 *   - `embeddings`: every table read by a Gather (word, position, token-type embeddings) and
 *     every weight whose name contains "embeddings" (HF's embeddings.LayerNorm);
 *   - `/regex/`: names matching the regular expression;
 *   - a pattern with `*`: a glob over the whole name (`*.bias`, `bert.encoder.layer.0.*`);
 *   - anything else: names containing it.
 * A pattern that matches no trainable weight is an error, so a typo never trains what the
 * user meant to freeze.
 */
import { UserError } from '../errors.js';
import { DataType, tensorDims, type GraphProto, type TensorProto } from '../onnx/index.js';

export interface TrainableSelection {
  /** Which initializers may train (default: float32, rank >= 1). */
  trainable?: (name: string, tensor: TensorProto) => boolean;
  /** Freeze patterns (see module doc). */
  freeze?: readonly string[];
}

export function selectTrainable(graph: GraphProto, sel: TrainableSelection = {}, label = 'model'): { trainable: string[]; frozen: string[] } {
  const isDefault = (t: TensorProto) => t.dataType === DataType.FLOAT && tensorDims(t).length >= 1;
  const candidates = (graph.initializer ?? []).filter((t) => (sel.trainable ? sel.trainable(t.name ?? '', t) : isDefault(t)));
  const names = candidates.map((t) => t.name ?? '');
  const frozen = new Set<string>();
  const gatherTables = new Set((graph.node ?? []).filter((n) => n.opType === 'Gather' && !n.domain).map((n) => n.input?.[0] ?? ''));
  for (const pattern of sel.freeze ?? []) {
    const match = freezeMatcher(pattern, gatherTables, label);
    const hits = names.filter(match);
    if (!hits.length) throw new UserError(`${label}: --freeze ${pattern} matches no trainable weight`);
    for (const h of hits) frozen.add(h);
  }
  return { trainable: names.filter((n) => !frozen.has(n)), frozen: [...frozen] };
}

function freezeMatcher(pattern: string, gatherTables: Set<string>, label: string): (name: string) => boolean {
  if (pattern === 'embeddings') return (n) => gatherTables.has(n) || n.includes('embeddings');
  if (pattern.length > 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    let re: RegExp;
    try {
      re = new RegExp(pattern.slice(1, -1));
    } catch (e) {
      throw new UserError(`${label}: --freeze ${pattern} is not a valid regular expression (${(e as Error).message})`);
    }
    return (n) => re.test(n);
  }
  if (pattern.includes('*')) {
    const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    return (n) => re.test(n);
  }
  return (n) => n.includes(pattern);
}
