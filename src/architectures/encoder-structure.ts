import { UserError } from '../errors.js';
import { getAttribute } from '../onnx/attributes.js';
import { NameAllocator, topologicalSort } from '../onnx/graph.js';
import type { GraphProto, ModelProto, NodeProto, TensorProto } from '../onnx/proto.js';
import { tensorDims, tensorToNumbers } from '../onnx/tensor.js';

export interface EncoderLayerInfo {
  index: number;
  /** Residual-stream value entering the block. */
  input: string;
  /** Residual-stream value leaving it (post-LN: the block's last LayerNorm output; pre-LN: its last residual Add). */
  output: string;
  /** The attention Softmax output [B, heads, S, S]. */
  attentionProbs: string;
  /** Names of the nodes that belong to the block. */
  nodes: string[];
  /** Weights the block reads (initializers; constants shared with other blocks are listed by each). */
  initializers: string[];
}

export interface EncoderStructure {
  /** Value that enters block 0 (HF's hidden_states[0]). */
  embeddingOutput: string;
  layers: EncoderLayerInfo[];
  hiddenSize: number;
  numHeads?: number;
  norm: 'post' | 'pre';
  /** Pre-LN: output of the final LayerNorm. */
  finalNorm?: string;
}

/** A LayerNorm found in the graph: the LayerNormalization op or the pattern PyTorch decomposes it into. */
interface LayerNormUnit {
  input: string;
  output: string;
  /** Length of the scale vector, when it is a constant. */
  width?: number;
}

/**
 * Graph indexes the analysis needs: topological positions, producers, consumers, which values
 * depend on a graph input ("dynamic"; the rest are constants folded from initializers or
 * Constant nodes).
 */
class GraphIndex {
  readonly nodes: NodeProto[];
  readonly position = new Map<NodeProto, number>();
  readonly producer = new Map<string, NodeProto>();
  readonly consumers = new Map<string, NodeProto[]>();
  readonly dynamic = new Set<string>();
  readonly initializers: Map<string, TensorProto>;

  constructor(graph: GraphProto) {
    this.nodes = topologicalSort(graph);
    this.initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
    const inits = this.initializers;
    for (const v of graph.input ?? []) if (v.name && !inits.has(v.name)) this.dynamic.add(v.name);
    this.nodes.forEach((n, i) => {
      this.position.set(n, i);
      for (const o of n.output ?? []) if (o) this.producer.set(o, n);
      for (const inp of n.input ?? []) {
        if (!inp) continue;
        const list = this.consumers.get(inp) ?? [];
        if (!list.includes(n)) list.push(n);
        this.consumers.set(inp, list);
      }
      if ((n.input ?? []).some((x) => this.dynamic.has(x))) for (const o of n.output ?? []) if (o) this.dynamic.add(o);
    });
  }

  consumersOf(value: string): NodeProto[] {
    return this.consumers.get(value) ?? [];
  }

  /** A constant's values: an initializer, or a Constant node's tensor. */
  constant(value: string): TensorProto | undefined {
    const init = this.initializers.get(value);
    if (init) return init;
    const p = this.producer.get(value);
    if (p?.opType === 'Constant') return getAttribute(p, 'value')?.t ?? undefined;
    return undefined;
  }

  /** Nodes reachable forward from a value (the nodes that read it, transitively). */
  descendants(value: string): Set<NodeProto> {
    const seen = new Set<NodeProto>();
    const stack = [...this.consumersOf(value)];
    while (stack.length) {
      const n = stack.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      for (const o of n.output ?? []) if (o) stack.push(...this.consumersOf(o));
    }
    return seen;
  }

  /** Nodes a value depends on, its producer included. */
  ancestors(value: string): Set<NodeProto> {
    const seen = new Set<NodeProto>();
    const first = this.producer.get(value);
    const stack = first ? [first] : [];
    while (stack.length) {
      const n = stack.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      for (const i of n.input ?? []) {
        const p = i ? this.producer.get(i) : undefined;
        if (p) stack.push(p);
      }
    }
    return seen;
  }
}

/** The other input of a two-input node, given one of them. */
function otherInput(node: NodeProto, value: string): string | undefined {
  const ins = node.input ?? [];
  if (ins.length !== 2) return undefined;
  if (ins[0] === value) return ins[1];
  if (ins[1] === value) return ins[0];
  return undefined;
}

/**
 * LayerNorms by input value: LayerNormalization ops, and the decomposed pattern
 * x - ReduceMean(x), divided by Sqrt(ReduceMean((x - mean)^2) + eps), then an optional
 * constant Mul (scale) and Add (bias).
 */
function findLayerNorms(g: GraphIndex): Map<string, LayerNormUnit> {
  const units = new Map<string, LayerNormUnit>();
  for (const n of g.nodes) {
    if (n.opType === 'LayerNormalization' || n.opType === 'SimplifiedLayerNormalization') {
      const input = n.input?.[0];
      const output = n.output?.[0];
      if (!input || !output) continue;
      const scale = n.input?.[1] ? g.constant(n.input[1]) : undefined;
      units.set(input, { input, output, width: scale ? tensorDims(scale).reduce((a, b) => a * b, 1) : undefined });
      continue;
    }
    if (n.opType !== 'ReduceMean') continue;
    const x = n.input?.[0];
    const mean = n.output?.[0];
    if (!x || !mean) continue;
    const sub = g.consumersOf(mean).find((c) => c.opType === 'Sub' && c.input?.[0] === x && c.input?.[1] === mean);
    if (!sub) continue;
    const centered = sub.output![0]!;
    const div = g.consumersOf(centered).find((c) => c.opType === 'Div' && c.input?.[0] === centered);
    if (!div) continue;
    // The divisor must be the standard deviation of `centered`: Sqrt of something that reads it.
    const sqrt = g.producer.get(div.input?.[1] ?? '');
    if (sqrt?.opType !== 'Sqrt' || !g.ancestors(sqrt.output![0]!).has(sub)) continue;
    let output = div.output![0]!;
    let width: number | undefined;
    const affine = (op: string) => {
      const next = g.consumersOf(output).filter((c) => c.opType === op);
      if (next.length !== 1 || g.consumersOf(output).length !== 1) return false;
      const other = otherInput(next[0]!, output);
      const t = other !== undefined ? g.constant(other) : undefined;
      if (!t) return false;
      if (op === 'Mul') width = tensorDims(t).reduce((a, b) => a * b, 1);
      output = next[0]!.output![0]!;
      return true;
    };
    affine('Mul');
    affine('Add');
    units.set(x, { input: x, output, width });
  }
  return units;
}

/** Gives unnamed nodes (and repeated names) unique names, so blocks can list their nodes by name. */
function nameNodes(graph: GraphProto): void {
  const names = new NameAllocator(graph);
  const seen = new Set<string>();
  for (const n of graph.node ?? []) {
    if (!n.name || seen.has(n.name)) n.name = names.take(`${n.opType || 'node'}_${n.output?.[0] || 'anon'}`);
    seen.add(n.name);
  }
}

/**
 * Finds the transformer blocks of an encoder classifier from the graph's structure alone:
 * the first attention Softmax fixes the residual stream (the value that enters the first
 * residual Add whose other side depends on that Softmax), then the walk follows the stream
 * through pairs of residual Adds (attention: a branch with a Softmax; feed-forward: a branch
 * with a MatMul and no Softmax), stepping over a LayerNorm after each Add (post-LN) or seeing
 * one open each branch (pre-LN). Initializer names play no part (PyTorch renames weights to
 * `onnx::MatMul_612`). Nodes without a name, or with a repeated one, are named in place.
 */
export function findEncoderStructure(model: ModelProto, label = 'model'): EncoderStructure {
  const graph = model.graph;
  if (!graph) throw new UserError(`${label}: the model has no graph`);
  nameNodes(graph);
  const g = new GraphIndex(graph);
  const layerNorms = findLayerNorms(g);
  const softmaxes = g.nodes.filter((n) => n.opType === 'Softmax');
  const found = () => {
    const ops = (t: string) => g.nodes.filter((n) => n.opType === t).length;
    const fused = g.nodes.filter((n) => n.domain === 'com.microsoft').map((n) => n.opType);
    return (
      `found ${softmaxes.length} Softmax node(s), ${layerNorms.size} LayerNorm(s), ${ops('MatMul') + ops('Gemm')} MatMul/Gemm node(s)` +
      (fused.length ? `, fused com.microsoft ops (${[...new Set(fused)].join(', ')}) that this analysis does not read` : '')
    );
  };
  if (!softmaxes.length) throw new UserError(`${label}: no attention found (${found()}); --student-layers needs a transformer encoder of standard ONNX ops`);

  // The residual Add that a value feeds, whose other input is computed from that value.
  const residualAddOf = (stream: string): { add: NodeProto; branch: string } | undefined => {
    const candidates = g
      .consumersOf(stream)
      .filter((c) => c.opType === 'Add')
      .map((add) => ({ add, branch: otherInput(add, stream) }))
      .filter((c): c is { add: NodeProto; branch: string } => !!c.branch && c.branch !== stream && g.dynamic.has(c.branch));
    const downstream = g.descendants(stream);
    const ok = candidates.filter((c) => {
      const p = g.producer.get(c.branch);
      return p !== undefined && downstream.has(p);
    });
    ok.sort((a, b) => g.position.get(a.add)! - g.position.get(b.add)!);
    return ok[0];
  };
  // Nodes on the paths from `from` to `to` (descendants of one, ancestors of the other).
  const between = (from: string, to: string) => {
    const down = g.descendants(from);
    return [...g.ancestors(to)].filter((n) => down.has(n));
  };

  // The stream entering block 0: the first Add that joins a value the first Softmax depends on
  // with a value computed from that Softmax.
  const first = softmaxes[0]!;
  const firstProbs = first.output![0]!;
  const afterFirst = g.descendants(firstProbs);
  const beforeFirst = g.ancestors(first.input![0]!);
  let embeddingOutput: string | undefined;
  for (const n of g.nodes) {
    if (n.opType !== 'Add' || !afterFirst.has(n) || (n.input ?? []).length !== 2) continue;
    const [a, b] = n.input!;
    const fromSoftmax = (v: string) => v === firstProbs || afterFirst.has(g.producer.get(v)!);
    const beforeSoftmax = (v: string) => g.dynamic.has(v) && beforeFirst.has(g.producer.get(v)!) && !fromSoftmax(v);
    if (fromSoftmax(a!) && beforeSoftmax(b!)) embeddingOutput = b;
    else if (fromSoftmax(b!) && beforeSoftmax(a!)) embeddingOutput = a;
    if (embeddingOutput) break;
  }
  if (!embeddingOutput) {
    throw new UserError(`${label}: ${found()}, but no residual stream: no Add joins the first attention's output with the value that feeds it`);
  }

  const layers: EncoderLayerInfo[] = [];
  const norms: Array<'post' | 'pre'> = [];
  let stream = embeddingOutput;
  let hiddenSize: number | undefined;
  let numHeads: number | undefined;
  for (;;) {
    const attention = residualAddOf(stream);
    if (!attention) break;
    const attentionNodes = between(stream, attention.branch);
    const probs = attentionNodes.filter((n) => n.opType === 'Softmax');
    if (probs.length !== 1) break;
    const preNorm = layerNorms.get(stream);
    const pre = !!preNorm && attentionNodes.some((n) => n.output?.includes(preNorm.output));
    let mid = attention.add.output![0]!;
    if (!pre) {
      const ln = layerNorms.get(mid);
      if (!ln) throw new UserError(`${label}: block ${layers.length}: ${found()}; the attention's residual Add is followed by no LayerNorm and none opens the branch`);
      mid = ln.output;
    }
    const ffn = residualAddOf(mid);
    const ffnNodes = ffn ? between(mid, ffn.branch) : [];
    if (!ffn || ffnNodes.some((n) => n.opType === 'Softmax') || !ffnNodes.some((n) => n.opType === 'MatMul' || n.opType === 'Gemm')) {
      throw new UserError(`${label}: block ${layers.length}: ${found()}; after the attention's residual Add there is no feed-forward residual Add`);
    }
    let output = ffn.add.output![0]!;
    if (!pre) {
      const ln = layerNorms.get(output);
      if (!ln) throw new UserError(`${label}: block ${layers.length}: ${found()}; the feed-forward residual Add is followed by no LayerNorm (post-LN) and none opens its branch (pre-LN)`);
      output = ln.output;
    }
    hiddenSize ??= (pre ? preNorm?.width : layerNorms.get(attention.add.output![0]!)?.width) ?? matmulInputWidth(g, attentionNodes);
    numHeads ??= headsOf(g, attentionNodes);
    const nodes = blockNodes(g, stream, output);
    layers.push({
      index: layers.length,
      input: stream,
      output,
      attentionProbs: probs[0]!.output![0]!,
      nodes: nodes.map((n) => n.name!),
      initializers: [...new Set(nodes.flatMap((n) => (n.input ?? []).filter((i) => g.initializers.has(i))))],
    });
    norms.push(pre ? 'pre' : 'post');
    stream = output;
  }
  if (!layers.length) {
    throw new UserError(`${label}: ${found()}, but no encoder block: the value feeding the first attention (${embeddingOutput}) reaches no residual Add around it`);
  }
  if (new Set(norms).size > 1) throw new UserError(`${label}: blocks mix pre- and post-LayerNorm (${norms.join(', ')}); not a uniform encoder`);
  if (!hiddenSize) throw new UserError(`${label}: found ${layers.length} encoder block(s) but cannot tell the hidden size (no constant LayerNorm scale or MatMul weight)`);
  const norm = norms[0]!;
  const finalNorm = norm === 'pre' ? layerNorms.get(stream)?.output : undefined;
  return { embeddingOutput, layers, hiddenSize, ...(numHeads ? { numHeads } : {}), norm, ...(finalNorm ? { finalNorm } : {}) };
}

/**
 * The block's nodes: those computed from its input on the way to its output, plus the
 * constant-only nodes (Constant, folded shapes) that only they read. Values the block reads
 * from elsewhere (the attention mask) stay shared.
 */
function blockNodes(g: GraphIndex, input: string, output: string): NodeProto[] {
  const down = g.descendants(input);
  const up = g.ancestors(output);
  const core = new Set([...up].filter((n) => down.has(n)));
  for (let grew = true; grew; ) {
    grew = false;
    for (const n of up) {
      if (core.has(n) || (n.input ?? []).some((i) => g.dynamic.has(i))) continue;
      const readers = (n.output ?? []).flatMap((o) => g.consumersOf(o));
      if (readers.length && readers.every((r) => core.has(r))) {
        core.add(n);
        grew = true;
      }
    }
  }
  return [...core].sort((a, b) => g.position.get(a)! - g.position.get(b)!);
}

/** Rows of the weight of a MatMul that reads the block's input (the hidden size). */
function matmulInputWidth(g: GraphIndex, nodes: NodeProto[]): number | undefined {
  for (const n of nodes) {
    if (n.opType !== 'MatMul') continue;
    const w = g.constant(n.input?.[1] ?? '');
    if (w && tensorDims(w).length === 2) return tensorDims(w)[0];
  }
  return undefined;
}

/** Head count from the Reshape that splits heads: a constant shape [0|B, 0|S, heads, head_dim], or a Concat of pieces with constant third one. */
function headsOf(g: GraphIndex, nodes: NodeProto[]): number | undefined {
  for (const n of nodes) {
    if (n.opType !== 'Reshape') continue;
    const shape = n.input?.[1] ?? '';
    const t = g.constant(shape);
    if (t) {
      const v = tensorToNumbers(t);
      if (v.length === 4 && v[2]! > 0) return v[2];
      continue;
    }
    const concat = g.producer.get(shape);
    if (concat?.opType === 'Concat' && concat.input?.length === 4) {
      const piece = g.constant(concat.input[2]!);
      const v = piece ? tensorToNumbers(piece) : [];
      if (v.length === 1 && v[0]! > 0) return v[0];
    }
  }
  return undefined;
}
