import { encodeModel, ensureOpset, runtimeInputs, type ModelProto, type NodeProto, type TensorProto } from '../../onnx/index.js';
import { openSession, type ort } from '../../runtime/session.js';
import type { QuantizeSource } from '../driver.js';
import type { StaticSource } from '../static/driver.js';
import { quantizeAnyMode } from './quantize-any.js';
import type { QuantizeOptions } from '../options.js';
import { sqnrDb } from '../qparams.js';
import { activationBytes, observeBatchSizes, packByBytes, probeActivationShapes } from '../calibrate/memory-plan.js';
import type { Feeds } from './feeds.js';

/** Quantization error at one quantized node's output, fp32 against int8, over the sample inputs. */
export interface NodeError {
  node: string;
  opType: string;
  /** The value compared (the node's output, or the bias Add's output the ms format folds in). */
  output: string;
  /** SQNR (dB) of this node alone quantized, on the fp32 model's own inputs: its own error. null: exact. */
  sqnrDb: number | null;
  /** SQNR (dB) of the same value in the fully quantized model: its error plus everything upstream. null: exact. */
  cumulativeSqnrDb: number | null;
}

/**
 * Measures each quantized node's error. One probe graph holds the fp32 model and, beside it,
 * each node's quantized replacement reading the fp32 activations (so each error is the node's
 * own); a second run of the fully quantized model gives the accumulated error at the same
 * values. `model` must be prepared (see prepareForQuantization) with every node named, and
 * hold its weights in memory. Returns nodes worst first (lowest own SQNR).
 */
export async function measureNodeErrors(
  model: ModelProto,
  options: QuantizeOptions,
  feeds: readonly Feeds[],
  source: QuantizeSource & StaticSource = {},
): Promise<NodeError[]> {
  const full = await quantizeAnyMode(model, options, source);
  const quantized = full.report.decisions.filter((d) => d.status === 'quantized');
  if (quantized.length === 0 || feeds.length === 0) return [];
  const graph = model.graph!;
  const baseNodes = new Set(graph.node ?? []);
  const baseTensors = new Set(graph.initializer ?? []);
  const baseValues = new Set<string>([...(graph.input ?? []).map((v) => v.name ?? ''), ...(graph.node ?? []).flatMap((n) => n.output ?? [])]);

  const probeNodes: NodeProto[] = [...(graph.node ?? [])];
  const probeTensors: TensorProto[] = [...(graph.initializer ?? [])];
  const compared: Array<{ node: string; opType: string; output: string; alone: string }> = [];
  let probe: ModelProto = { ...model };
  for (const [k, d] of quantized.entries()) {
    const single = await quantizeAnyMode(model, { ...options, includeNodes: [d.node], excludeNodes: [] }, source);
    const added = (single.model.graph!.node ?? []).filter((n) => !baseNodes.has(n));
    const tensors = (single.model.graph!.initializer ?? []).filter((t) => !baseTensors.has(t));
    const fresh = new Set<string>([...added.flatMap((n) => n.output ?? []), ...tensors.map((t) => t.name ?? '')]);
    const rename = (name: string) => (fresh.has(name) ? `${name}__alone${k}` : name);
    for (const n of added) {
      probeNodes.push({ ...n, name: n.name ? `${n.name}__alone${k}` : n.name, input: (n.input ?? []).map(rename), output: (n.output ?? []).map(rename) });
      for (const o of n.output ?? []) if (baseValues.has(o)) compared.push({ node: d.node, opType: d.opType, output: o, alone: rename(o) });
    }
    probeTensors.push(...tensors.map((t) => ({ ...t, name: rename(t.name ?? '') })));
    probe = { ...single.model };
  }
  // A probe graph / fully quantized model exposing the compared values of the entries `items`.
  const probeFor = (items: readonly number[]): ModelProto => {
    const outputs = [...new Set(items.flatMap((i) => [compared[i]!.output, compared[i]!.alone]))].map((name) => ({ name }));
    const m: ModelProto = { ...probe, graph: { ...graph, node: probeNodes, initializer: probeTensors, output: [...(graph.output ?? []), ...outputs] }, opsetImport: [...(probe.opsetImport ?? [])] };
    for (const n of probeNodes) if (n.domain && n.domain !== 'ai.onnx') ensureOpset(m, n.domain, 1);
    return m;
  };
  const fullFor = (items: readonly number[]): ModelProto => {
    const outputs = [...new Set(items.map((i) => compared[i]!.output))].map((name) => ({ name }));
    return { ...full.model, graph: { ...full.model.graph!, output: [...(full.model.graph!.output ?? []), ...outputs] } };
  };

  const sums = compared.map(() => ({ signal: 0, alone: 0, cumulative: 0 }));
  const measure = async (items: readonly number[], probeSession: ort.InferenceSession, fullSession: ort.InferenceSession) => {
    const probeFetch = [...new Set(items.flatMap((i) => [compared[i]!.output, compared[i]!.alone]))];
    const fullFetch = [...new Set(items.map((i) => compared[i]!.output))];
    for (const f of feeds) {
      const a = await probeSession.run(f, probeFetch);
      const b = await fullSession.run(f, fullFetch);
      for (const i of items) {
        const c = compared[i]!;
        const ref = floats(a[c.output]!);
        const alone = floats(a[c.alone]!);
        const cumulative = floats(b[c.output]!);
        const s = sums[i]!;
        for (let j = 0; j < ref.length; j++) {
          const r = ref[j]!;
          s.signal += r * r;
          s.alone += (r - alone[j]!) ** 2;
          s.cumulative += (r - cumulative[j]!) ** 2;
        }
      }
    }
  };
  const openPair = async (items: readonly number[]) => ({
    probe: (await openSession(encodeModel(probeFor(items)), { threads: 0, graphOptimizationLevel: 'disabled' })).session,
    full: (await openSession(encodeModel(fullFor(items)), { threads: 0 })).session,
  });

  // onnxruntime holds every graph output of a run to its end: with the compared values' shapes
  // (probe runs, see calibrate/memory-plan.ts) they are measured in groups under the budget.
  const all = compared.map((_, i) => i);
  let groups: number[][] = [all];
  const first = await openPair(all);
  try {
    const budget = Math.round((options.activationMemoryMiB ?? 1024) * 2 ** 20);
    const inputs = runtimeInputs(graph);
    const probed = await probeActivationShapes(first.probe, inputs, [...new Set(compared.map((c) => c.output))], 'node report').catch(() => undefined);
    if (probed) {
      const sizes = new Map<string, number>();
      for (const f of feeds) observeBatchSizes(inputs, f, sizes);
      // Each compared value is held three times: fp32 and alone in the probe run, and in the full run.
      const bytesOf = (i: number) => {
        const shape = probed.shapes.get(compared[i]!.output);
        return shape ? 3 * activationBytes(shape, sizes, probed.symbols) : 0;
      };
      groups = packByBytes(all, bytesOf, budget).groups;
    }
    if (groups.length === 1) await measure(all, first.probe, first.full);
  } finally {
    await first.probe.release();
    await first.full.release();
  }
  if (groups.length > 1) {
    for (const group of groups) {
      const pair = await openPair(group);
      try {
        await measure(group, pair.probe, pair.full);
      } finally {
        await pair.probe.release();
        await pair.full.release();
      }
    }
  }
  const finite = (x: number) => (Number.isFinite(x) ? x : null);
  const errors = compared.map((c, i) => ({
    node: c.node,
    opType: c.opType,
    output: c.output,
    sqnrDb: finite(sqnrDb(sums[i]!.signal, sums[i]!.alone)),
    cumulativeSqnrDb: finite(sqnrDb(sums[i]!.signal, sums[i]!.cumulative)),
  }));
  // One row per node: a node writing two compared values keeps its worse one.
  const byNode = new Map<string, NodeError>();
  for (const e of errors) {
    const seen = byNode.get(e.node);
    if (!seen || (e.sqnrDb ?? Infinity) < (seen.sqnrDb ?? Infinity)) byNode.set(e.node, e);
  }
  return [...byNode.values()].sort((x, y) => (x.sqnrDb ?? Infinity) - (y.sqnrDb ?? Infinity));
}

function floats(t: ort.Tensor): Float32Array | Float64Array {
  if (t.type === 'float32' || t.type === 'float64') return t.data as Float32Array | Float64Array;
  throw new Error(`node report: value of type ${t.type} compared (expected float)`);
}
