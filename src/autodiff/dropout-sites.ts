/**
 * Training-time dropout for inference graphs, placed where Hugging Face's BERT applies it:
 * on attention probabilities (Softmax outputs read by a MatMul), on the dense branch of every
 * residual Add that feeds a LayerNorm (attention output and FFN output), after the embeddings'
 * LayerNorm (the LayerNorm whose residual Add has no dense branch), and on the classifier's
 * input. LayerNorm is recognised both as the LayerNormalization op and as the exporter's
 * ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add decomposition.
 *
 * Each site gets an ONNX Dropout with training_mode = true and its own `seed` attribute:
 * onnxruntime draws a new mask every run from a generator seeded once per session, so the same
 * seed gives the same masks run after run (bit-identical training), though a session restarted
 * from a checkpoint starts the mask sequence over.
 */
import { consumersOf, DataType, initializersOf, makeAttribute, producersOf, type GraphBuilder, type GraphProto, type NodeProto } from '../onnx/index.js';

export type DropoutSiteKind = 'attention' | 'hidden' | 'embeddings' | 'classifier';

export interface DropoutSite {
  /** The value dropout is applied to. */
  value: string;
  kind: DropoutSiteKind;
}

interface LayerNormMatch {
  input: string;
  output: string | undefined;
}

export function findDropoutSites(graph: GraphProto, logits: string): DropoutSite[] {
  const producers = producersOf(graph);
  const consumers = consumersOf(graph);
  const inits = initializersOf(graph);
  const only = (value: string | undefined, op: string): NodeProto | undefined => {
    const c = value ? (consumers.get(value) ?? []) : [];
    return c.length === 1 && c[0]!.opType === op ? c[0] : undefined;
  };
  const sites: DropoutSite[] = [];
  const seen = new Set<string>();
  const add = (value: string | undefined, kind: DropoutSiteKind) => {
    if (value && !seen.has(value)) {
      seen.add(value);
      sites.push({ value, kind });
    }
  };

  const layerNorms: LayerNormMatch[] = [];
  for (const n of graph.node ?? []) {
    if (n.opType === 'LayerNormalization' && !n.domain) layerNorms.push({ input: n.input![0]!, output: n.output![0] });
    if (n.opType === 'ReduceMean' && !n.domain) {
      // x -> ReduceMean -> Sub(x, mean) -> ... -> Div(sub, std) -> Mul(scale) -> Add(bias)
      const x = n.input![0]!;
      const sub = (consumers.get(n.output![0]!) ?? []).find((c) => c.opType === 'Sub' && c.input![0] === x);
      if (!sub) continue;
      const div = (consumers.get(sub.output![0]!) ?? []).find((c) => c.opType === 'Div' && c.input![0] === sub.output![0]);
      const mul = only(div?.output?.[0], 'Mul');
      const biasAdd = only(mul?.output?.[0], 'Add');
      layerNorms.push({ input: x, output: biasAdd?.output?.[0] });
    }
  }

  const isDense = (value: string): boolean => {
    const p = producers.get(value);
    if (!p) return false;
    if (p.opType === 'MatMul' || p.opType === 'Gemm') return true;
    if (p.opType !== 'Add') return false;
    const [a, b] = p.input!;
    const fromMatMul = (v: string) => ['MatMul', 'Gemm'].includes(producers.get(v)?.opType ?? '');
    return (fromMatMul(a!) && inits.has(b!)) || (fromMatMul(b!) && inits.has(a!));
  };

  for (const n of graph.node ?? []) {
    if (n.opType === 'Softmax' && (consumers.get(n.output![0]!) ?? []).some((c) => c.opType === 'MatMul')) add(n.output![0], 'attention');
  }
  for (const ln of layerNorms) {
    const residual = producers.get(ln.input);
    if (!residual || residual.opType !== 'Add') continue;
    const dense = residual.input!.filter((v) => isDense(v));
    if (dense.length === 1) add(dense[0], 'hidden');
    else if (dense.length === 0) add(ln.output, 'embeddings');
  }
  const head = producers.get(logits);
  if (head && (head.opType === 'Gemm' || head.opType === 'MatMul')) add(head.input![0], 'classifier');
  else if (head?.opType === 'Add') {
    const mm = head.input!.map((v) => producers.get(v)).find((p) => p?.opType === 'MatMul' || p?.opType === 'Gemm');
    add(mm?.input?.[0], 'classifier');
  }
  // Sites are activations computed by the graph, never inputs or weights.
  return sites.filter((s) => producers.has(s.value) && !inits.has(s.value));
}

/**
 * Inserts a training-mode Dropout after each site (its readers now read the dropped value) and
 * returns how many it inserted. Graph outputs are left alone.
 */
export function insertDropout(b: GraphBuilder, sites: readonly DropoutSite[], ratio: number, seed: number): number {
  if (!(ratio > 0)) return 0;
  if (ratio >= 1) throw new RangeError(`dropout must be in [0, 1), got ${ratio}`);
  const graph = b.graph;
  const outputs = new Set((graph.output ?? []).map((o) => o.name));
  const rate = b.scalar(ratio, 'dropout_ratio');
  const training = b.initializer('dropout_training', Uint8Array.of(1), [], DataType.BOOL);
  const nodes = graph.node!;
  let inserted = 0;
  sites.forEach((site, k) => {
    if (outputs.has(site.value)) return;
    const readers = nodes.filter((n) => (n.input ?? []).includes(site.value));
    const at = nodes.findIndex((n) => (n.output ?? []).includes(site.value));
    const dropped = b.names.take(`${site.value}.dropout`);
    const node: NodeProto = {
      opType: 'Dropout',
      name: b.names.take(`dropout/${site.kind}`),
      input: [site.value, rate, training],
      output: [dropped],
      attribute: [makeAttribute('seed', 1 + ((seed * 7919 + k * 104729) % 2147483646))],
    };
    for (const r of readers) r.input = r.input!.map((v) => (v === site.value ? dropped : v));
    nodes.splice(at + 1, 0, node);
    inserted++;
  });
  return inserted;
}
