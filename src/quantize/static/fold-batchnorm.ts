import { attrFloat, DataType, makeTensor, tensorDims, type ModelProto, type NodeProto, type TensorProto } from '../../onnx/index.js';
import { tensorFloatSource } from '../float-source.js';
import type { ConstantLookup } from './constants.js';

/**
 * Folds BatchNormalization (inference form, constant parameters) into the Conv before it, as
 * every exporter's optimizer and onnxruntime's pre-processing do: W' = W * g / sqrt(v + eps) per
 * output channel, B' = (B - m) * g / sqrt(v + eps) + beta. Quantizing the folded weight is what
 * onnxruntime runs; quantizing Conv then BatchNorm separately would add an int8 round trip and
 * leave BatchNorm in float. Returns a new model (the input is not changed) and the count.
 */
export function foldBatchNorms(model: ModelProto, constants: ConstantLookup, baseDir: string | undefined, label: string): { model: ModelProto; folded: number } {
  const graph = model.graph!;
  const nodes = graph.node ?? [];
  const readers = new Map<string, number>();
  for (const n of nodes) for (const i of n.input ?? []) readers.set(i, (readers.get(i) ?? 0) + 1);
  const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  const producer = new Map<string, NodeProto>();
  for (const n of nodes) for (const o of n.output ?? []) producer.set(o, n);
  const replaced = new Map<NodeProto, NodeProto>();
  const dropped = new Set<NodeProto>();
  const newTensors: TensorProto[] = [];
  const names = new Set([...(graph.initializer ?? []).map((t) => t.name ?? ''), ...nodes.flatMap((n) => [...(n.output ?? []), n.name ?? ''])]);
  const fresh = (base: string) => {
    let name = base;
    for (let k = 1; names.has(name); k++) name = `${base}_${k}`;
    names.add(name);
    return name;
  };
  for (const bn of nodes) {
    if (bn.opType !== 'BatchNormalization' || (bn.domain && bn.domain !== 'ai.onnx') || (bn.output ?? []).filter(Boolean).length !== 1) continue;
    const [x, gName, betaName, meanName, varName] = bn.input ?? [];
    const conv = x ? producer.get(x) : undefined;
    if (!conv || conv.opType !== 'Conv' || (conv.domain && conv.domain !== 'ai.onnx') || readers.get(x!) !== 1 || outputs.has(x!) || replaced.has(conv)) continue;
    const w = constants.tensor(conv.input![1]!);
    const b = conv.input?.[2] ? constants.tensor(conv.input[2]) : undefined;
    const params = [gName, betaName, meanName, varName].map((n) => (n ? constants.tensor(n) : undefined));
    if (!w || w.dataType !== DataType.FLOAT || (conv.input?.[2] && !b) || params.some((p) => !p || p.dataType !== DataType.FLOAT)) continue;
    if ((readers.get(conv.input![1]!) ?? 0) !== 1) continue;
    const dims = tensorDims(w);
    const cout = dims[0]!;
    const [g, beta, mean, variance] = params.map((p) => floats(p!, baseDir, label));
    if ([g, beta, mean, variance].some((a) => a!.length !== cout)) continue;
    const eps = attrFloat(bn, 'epsilon', 1e-5);
    const wv = floats(w, baseDir, label);
    const per = wv.length / cout;
    const newW = new Float32Array(wv.length);
    const newB = new Float32Array(cout);
    const bv = b ? floats(b, baseDir, label) : new Float32Array(cout);
    for (let c = 0; c < cout; c++) {
      const f = g![c]! / Math.sqrt(variance![c]! + eps);
      for (let j = 0; j < per; j++) newW[c * per + j] = wv[c * per + j]! * f;
      newB[c] = (bv[c]! - mean![c]!) * f + beta![c]!;
    }
    const wName = fresh(`${conv.input![1]}_bn_folded`);
    const bName = fresh(`${conv.name || 'conv'}_bias_bn_folded`);
    newTensors.push(makeTensor(wName, newW, dims), makeTensor(bName, newB, [cout]));
    replaced.set(conv, { ...conv, input: [conv.input![0]!, wName, bName], output: [bn.output![0]!] });
    dropped.add(bn);
  }
  if (dropped.size === 0) return { model, folded: 0 };
  const node = nodes.filter((n) => !dropped.has(n)).map((n) => replaced.get(n) ?? n);
  // Conv now writes where BatchNorm did; its old output is gone, with its value info.
  const gone = new Set([...replaced.keys()].map((c) => c.output![0]!));
  const valueInfo = graph.valueInfo?.filter((v) => !gone.has(v.name ?? ''));
  return {
    model: { ...model, graph: { ...graph, node, initializer: [...(graph.initializer ?? []), ...newTensors], ...(valueInfo ? { valueInfo } : {}) } },
    folded: dropped.size,
  };
}

function floats(t: TensorProto, baseDir: string | undefined, label: string): Float32Array {
  const src = tensorFloatSource(t, baseDir, label);
  const out = new Float32Array(src.length);
  src.forEachChunk(1, (chunk, start) => out.set(chunk, start));
  return out;
}
