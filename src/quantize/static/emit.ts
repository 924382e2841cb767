import { UserError } from '../../errors.js';
import {
  DataType,
  makeAttribute,
  makeTensor,
  NameAllocator,
  removeDeadNodes,
  tensorByteLength,
  type GraphProto,
  type NodeProto,
  type TensorProto,
} from '../../onnx/index.js';
import { tensorFloatSource } from '../float-source.js';
import { roundHalfEven, type QParams } from '../qparams.js';
import type { QuantizedTensorReport } from '../report.js';
import { quantizeWeight, weightTensorReport } from '../weights.js';
import type { ConstantLookup } from './constants.js';
import type { ResolvedStaticOptions } from './options.js';
import type { StaticPlan } from './plan.js';
import type { QNames, StaticPlanContext } from './rule.js';

interface WeightEntry extends QNames {
  /** DequantizeLinear output (float) every float reader and QDQ node reads. */
  dq: string;
  axis: number | undefined;
  scales: Float32Array;
  report: QuantizedTensorReport;
}

export interface EmitResult {
  graph: GraphProto;
  weights: QuantizedTensorReport[];
  /** Node indices written in integer (QOperator) form. */
  qoperatorNodes: number;
}

/**
 * Writes the QDQ (or QOperator) graph for a plan and calibrated activation parameters. Q/DQ
 * pairs go right after the node producing each activation; weight and bias DequantizeLinear
 * nodes go first. Values nothing reads any more (float weights, DQ nodes QOperator nodes made
 * redundant) are removed at the end.
 */
export function emitStatic(
  graph: GraphProto,
  plan: StaticPlan,
  params: Map<string, QParams>,
  constants: ConstantLookup,
  o: ResolvedStaticOptions,
  ctx: StaticPlanContext,
  io: { baseDir: string | undefined; label: string },
): EmitResult {
  const names = new NameAllocator(graph);
  const nodes = graph.node ?? [];
  const initializers: TensorProto[] = [...(graph.initializer ?? [])];
  const head: NodeProto[] = [];
  const body: NodeProto[] = [];
  const actType = o.calibration.activationType === 'int8' ? DataType.INT8 : DataType.UINT8;
  const perChannelOk = o.perChannel && ctx.opset >= 13;
  if (o.perChannel && ctx.opset < 13) throw new UserError(`${io.label}: --per-channel needs opset >= 13 (DequantizeLinear's axis); the model imports opset ${ctx.opset}`);

  // ---- activations: names of each entry's quantized tensor and parameters
  const root = (name: string): string => {
    const e = plan.activations.get(name)!;
    return e.sharedWith && plan.activations.has(e.sharedWith) ? root(e.sharedWith) : name;
  };
  const act = new Map<string, QNames & { dq: string }>();
  const paramNames = new Map<string, { scale: string; zeroPoint: string }>();
  const paramsOf = (name: string) => {
    const r = root(name);
    let p = paramNames.get(r);
    if (!p) {
      const q = params.get(r);
      if (!q) throw new Error(`internal: no calibrated range for ${r}`);
      const scale = names.take(`${r}_scale`);
      const zeroPoint = names.take(`${r}_zero_point`);
      initializers.push(makeTensor(scale, Float32Array.of(q.scale), []));
      initializers.push(makeTensor(zeroPoint, actType === DataType.INT8 ? Int8Array.of(q.zeroPoint) : Uint8Array.of(q.zeroPoint), []));
      p = { scale, zeroPoint };
      paramNames.set(r, p);
    }
    return p;
  };
  const bySource = new Map<string, string[]>();
  for (const e of plan.activations.values()) {
    const p = paramsOf(e.name);
    act.set(e.name, { data: names.take(`${e.name}_quantized`), ...p, dq: e.fused !== undefined ? e.name : names.take(`${e.name}_dequantized`) });
    bySource.set(e.source, [...(bySource.get(e.source) ?? []), e.name]);
  }
  const producedQuantized = new Set<string>();
  /** Values an integer (QOperator) node now writes only in quantized form: float readers read the DequantizeLinear. */
  const floatOf = new Map<string, string>();
  const graphOutputs = new Set((graph.output ?? []).map((v) => v.name ?? ''));
  const emitQdq = (entry: string, out: NodeProto[]) => {
    const a = act.get(entry)!;
    const e = plan.activations.get(entry)!;
    if (!producedQuantized.has(entry)) {
      out.push({ name: names.take(`${entry}_QuantizeLinear`), opType: 'QuantizeLinear', input: [e.source, a.scale, a.zeroPoint], output: [a.data] });
    }
    out.push({ name: names.take(`${entry}_DequantizeLinear`), opType: 'DequantizeLinear', input: [a.data, a.scale, a.zeroPoint], output: [a.dq] });
  };

  // ---- weights: one int8 tensor per float weight, shared by every reader
  const requests = new Map<string, Array<number | undefined>>();
  for (const [i, { plan: p }] of plan.planned) {
    for (const w of p.weights) {
      const name = nodes[i]!.input![w.input]!;
      requests.set(name, [...(requests.get(name) ?? []), w.channelAxis]);
    }
  }
  const weights = new Map<string, WeightEntry>();
  const weightOf = (name: string, opType: string, reader: string): WeightEntry => {
    let entry = weights.get(name);
    if (!entry) {
      const axes = requests.get(name) ?? [undefined];
      const axis = perChannelOk && axes.every((a) => a === axes[0]) ? axes[0] : undefined;
      entry = quantizeConstant(name, axis, opType);
      weights.set(name, entry);
    }
    entry.report.nodes.push(reader);
    return entry;
  };
  const quantizeConstant = (name: string, axis: number | undefined, opType: string): WeightEntry => {
    const found = constants.weight(name, 0);
    if ('skip' in found) throw new Error(`internal: ${name} planned as a weight but ${found.skip}`);
    const { tensor, dims } = found;
    const spec = { type: o.weightType, symmetric: o.symmetric, reduceRange: o.reduceRange };
    let q;
    try {
      q = quantizeWeight(name, tensorFloatSource(tensor, io.baseDir, io.label), dims, spec, axis);
    } catch (e) {
      if (e instanceof UserError) throw new UserError(`${io.label}: ${e.message}`);
      throw e;
    }
    const qType = o.weightType === 'int8' ? DataType.INT8 : DataType.UINT8;
    const data = names.take(`${name}_quantized`);
    const scale = names.take(`${name}_scale`);
    const zeroPoint = names.take(`${name}_zero_point`);
    const dq = names.take(`${name}_dequantized`);
    const paramDims = axis === undefined ? [] : [q.scales.length];
    const zp = qType === DataType.INT8 ? Int8Array.from(q.zeroPoints) : Uint8Array.from(q.zeroPoints);
    const tensors = [makeTensor(data, q.data, dims, qType), makeTensor(scale, q.scales, paramDims, DataType.FLOAT), makeTensor(zeroPoint, zp, paramDims, qType)];
    initializers.push(...tensors);
    head.push({
      name: names.take(`${name}_DequantizeLinear`),
      opType: 'DequantizeLinear',
      input: [data, scale, zeroPoint],
      output: [dq],
      ...(axis !== undefined ? { attribute: [makeAttribute('axis', axis)] } : {}),
    });
    return { data, scale, zeroPoint, dq, axis, scales: q.scales, report: weightTensorReport(name, data, opType, dims, o.weightType, axis, q, tensor, tensors) };
  };

  // ---- bias: int32, scale = activation scale * weight scale (per channel when the weight is)
  const quantizeBias = (name: string, actName: string, w: WeightEntry): { data: string; dq: string } => {
    const t = constants.tensor(name)!;
    const src = tensorFloatSource(t, io.baseDir, io.label);
    const values = new Float32Array(src.length);
    src.forEachChunk(1, (chunk, start) => values.set(chunk, start));
    const sx = params.get(root(actName))!.scale;
    const scales = new Float32Array(w.axis === undefined ? 1 : values.length);
    for (let c = 0; c < scales.length; c++) scales[c] = Math.fround(sx * w.scales[w.axis === undefined ? 0 : c]!);
    const q = new Int32Array(values.length);
    for (let c = 0; c < values.length; c++) {
      const s = scales[w.axis === undefined ? 0 : c]!;
      const v = s > 0 ? roundHalfEven(values[c]! / s) : 0;
      q[c] = Math.max(-2147483648, Math.min(2147483647, v));
    }
    const data = names.take(`${name}_quantized`);
    const scale = names.take(`${name}_scale`);
    const dq = names.take(`${name}_dequantized`);
    initializers.push(makeTensor(data, q, [values.length], DataType.INT32), makeTensor(scale, scales, w.axis === undefined ? [] : [scales.length]));
    head.push({
      name: names.take(`${name}_DequantizeLinear`),
      opType: 'DequantizeLinear',
      input: [data, scale],
      output: [dq],
      ...(w.axis !== undefined ? { attribute: [makeAttribute('axis', 0)] } : {}),
    });
    return { data, dq };
  };

  // Weights read by nodes that stay float are read through the same DequantizeLinear.
  for (const [i, { plan: p }] of plan.planned) for (const w of p.weights) weightOf(nodes[i]!.input![w.input]!, nodes[i]!.opType!, plan.labels[i]!);
  for (const e of weights.values()) e.report.nodes = [...new Set(e.report.nodes)];

  for (const input of graph.input ?? []) for (const entry of bySource.get(input.name ?? '') ?? []) emitQdq(entry, head);

  let qoperatorNodes = 0;
  const fusedNodes = new Set([...plan.activations.values()].map((e) => e.fused).filter((f): f is number => f !== undefined));
  nodes.forEach((node, i) => {
    if (fusedNodes.has(i)) return;
    const planned = plan.planned.get(i);
    if (!planned) {
      const input = (node.input ?? []).map((x) => weights.get(x)?.dq ?? floatOf.get(x) ?? x);
      body.push(input.some((x, k) => x !== node.input![k]) ? { ...node, input } : node);
    } else {
      const p = planned.plan;
      const input = [...(node.input ?? [])];
      const qio: Array<QNames | undefined> = input.map(() => undefined);
      let biasData: string | undefined;
      for (const k of p.activations) {
        const a = act.get(input[k]!)!;
        qio[k] = a;
        input[k] = a.dq;
      }
      for (const w of p.weights) {
        const e = weights.get(input[w.input]!)!;
        qio[w.input] = e;
        input[w.input] = p.gatherRows ? e.data : e.dq;
      }
      if (p.bias) {
        const b = quantizeBias(input[p.bias.input]!, node.input![p.bias.activation]!, weights.get(node.input![p.bias.weight]!)!);
        input[p.bias.input] = b.dq;
        biasData = b.data;
      }
      const out = node.output?.[0];
      const outEntry = out ? bySource.get(out)?.[0] : undefined;
      const integer =
        o.format === 'qoperator' && outEntry && !graphOutputs.has(out!) && planned.rule.qoperator
          ? planned.rule.qoperator(node, { inputs: qio, bias: biasData, output: act.get(outEntry)!, activationType: o.calibration.activationType }, ctx)
          : undefined;
      if (integer) {
        body.push({ ...integer, name: node.name || names.take(`${node.opType}_${i}_quantized`) });
        producedQuantized.add(outEntry!);
        floatOf.set(out!, act.get(outEntry!)!.dq);
        qoperatorNodes++;
      } else if (p.gatherRows) {
        const w = weights.get(node.input![0]!)!;
        const rows = names.take(`${node.output![0]}_quantized_rows`);
        body.push({ ...node, input, output: [rows] });
        const axis = w.axis === undefined ? undefined : -1;
        body.push({
          name: names.take(`${node.name || 'Gather'}_DequantizeLinear`),
          opType: 'DequantizeLinear',
          input: [rows, w.scale, w.zeroPoint],
          output: [node.output![0]!],
          ...(axis !== undefined ? { attribute: [makeAttribute('axis', axis)] } : {}),
        });
      } else {
        body.push({ ...node, input });
      }
    }
    for (const o2 of node.output ?? []) for (const entry of bySource.get(o2) ?? []) emitQdq(entry, body);
  });

  const out: GraphProto = { ...graph, node: [...head, ...body], initializer: initializers };
  removeDeadNodes(out);
  const kept = new Set(out.node!.flatMap((n) => n.output ?? []));
  if (out.valueInfo) out.valueInfo = out.valueInfo.filter((v) => kept.has(v.name ?? '') || (graph.input ?? []).some((i) => i.name === v.name));
  return { graph: out, weights: [...weights.values()].map((e) => e.report), qoperatorNodes };
}
