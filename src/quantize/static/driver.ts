import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../errors.js';
import { allTensors, encodeModel, opsetVersion, runtimeInputs, saveModel, tensorByteLength, type ModelProto } from '../../onnx/index.js';
import { openSession } from '../../runtime/session.js';
import { tensorRange } from '../calibrate/ranges.js';
import { calibrationBatches } from '../calibrate/data.js';
import { collectStats, type CollectResult } from '../calibrate/run.js';
import type { TensorStats } from '../calibrate/collector.js';
import {
  describeShape,
  groupByBudget,
  observeBatchSizes,
  probeActivationShapes,
  type CalibrationGroups,
  type ProbedShapes,
} from '../calibrate/memory-plan.js';
import type { ort } from '../../runtime/session.js';
import type { QuantizeResult, QuantizeSource } from '../driver.js';
import { resolveQuantizeOptions, type QuantizeOptions } from '../options.js';
import { defaultStaticOpTypes, staticOpTypes } from '../ops/static-registry.js';
import { computeQParams, quantRange, type QParams } from '../qparams.js';
import type { ActivationRangeReport, CalibrationMemoryReport, NodeDecision } from '../report.js';
import { ConstantLookup } from './constants.js';
import { emitStatic } from './emit.js';
import { foldBatchNorms } from './fold-batchnorm.js';
import { resolveStaticFields, type ResolvedStaticOptions } from './options.js';
import { planStatic } from './plan.js';
import { prepareForQuantization } from '../prepare/prepare.js';
import type { StaticPlanContext } from './rule.js';

export interface StaticSource extends QuantizeSource {
  /** The model file: its tokenizer (text calibration) and the external data it references. */
  modelPath?: string;
  /** Rows calibrated so far in pass `pass` of `passes` (one pass per group of activations, see calibrate/memory-plan.ts). */
  onProgress?: (rows: number, pass: number, passes: number) => void;
}

/**
 * Static quantization: weights int8 now, activations int8/uint8 with ranges from calibration
 * data. Folds BatchNorm into Conv, plans (ops/ static rules), streams the calibration batches
 * through the model with the activations to calibrate as extra outputs (only per-tensor
 * statistics are kept), then writes the QDQ or QOperator graph. The input model is not changed.
 */
export async function quantizeModelStatic(model: ModelProto, options: QuantizeOptions, source: StaticSource = {}): Promise<QuantizeResult> {
  const label = source.label ?? 'model';
  const base = resolveQuantizeOptions({ ...options, opTypes: options.opTypes ?? [...defaultStaticOpTypes] }, staticOpTypes);
  const opts: ResolvedStaticOptions = { ...base, calibration: resolveStaticFields(options.calibration ?? {}) };
  if (!model.graph) throw new UserError(`${label}: model has no graph`);
  // Constant-node weights to initializers, old opsets converted up (see prepare/prepare.ts).
  const { model: input, report: preparation } = prepareForQuantization(model, base);
  const opset = opsetVersion(input, '') ?? 1;
  if (opset < 10) {
    const why = preparation.opsetRefusal ? ` (${preparation.opsetRefusal.message})` : '';
    throw new UserError(`${label}: model imports opset ${opset}; static quantization needs QuantizeLinear/DequantizeLinear (opset >= 10)${why}`);
  }

  const folded = foldBatchNorms(input, new ConstantLookup(input.graph!), source.baseDir, label);
  const prepared = folded.model;
  const graph = prepared.graph!;
  const constants = new ConstantLookup(graph);
  const ctx: StaticPlanContext = {
    options: opts,
    opset,
    constantWeight: (n) => constants.weight(n, opts.minElements),
    constantInfo: (n) => constants.info(n),
    constantValues: (n) => constants.values(n),
  };

  let plan = planStatic(graph, constants, opts, opset);
  const calibrated = () => [...plan.activations.values()].filter((e) => !e.sharedWith || !plan.activations.has(e.sharedWith)).map((e) => e.name);
  const tensors = calibrated();
  const graphInputs = runtimeInputs(graph);
  const inputNames = new Set(graphInputs.map((v) => v.name ?? ''));
  const first = await openAugmented(augment(prepared, tensors), source.baseDir, label);
  const inputMetadata = first.session.inputMetadata;
  const batches = () =>
    calibrationBatches(opts.calibration.data, inputMetadata, { size: opts.calibration.size, batchSize: opts.calibration.batchSize, modelPath: source.modelPath });
  const collect = (session: ort.InferenceSession, group: string[], pass: number, passes: number) =>
    collectStats(session, group, batches(), { method: opts.calibration.method, movingAverage: opts.calibration.movingAverage, onBatch: (rows) => source.onProgress?.(rows, pass, passes) }, label);
  let split: CalibrationGroups;
  let memory: CalibrationMemoryReport;
  let probed: ProbedShapes | undefined;
  let stats: CollectResult | undefined;
  try {
    // Values that turn out not to be float32 (shape arithmetic through an Add, say) are not
    // activations: skip the nodes reading them and plan again.
    const session = first.session;
    const types = new Map(session.outputMetadata.map((m) => [m.name, m.isTensor ? m.type : 'non-tensor']));
    for (const m of session.inputMetadata) types.set(m.name, m.isTensor ? m.type : 'non-tensor');
    const notFloat = tensors.filter((t) => types.get(t) !== undefined && types.get(t) !== 'float32');
    if (notFloat.length) {
      const excluded = new Map<number, string>();
      for (const [i] of plan.planned) {
        const bad = (graph.node![i]!.input ?? []).find((x) => notFloat.includes(x));
        if (bad) excluded.set(i, `input ${bad} is ${types.get(bad)}, not a float32 activation`);
      }
      plan = planStatic(graph, constants, opts, opset, excluded);
    }
    // The memory plan: the largest size each input dim takes in the data, the activations'
    // shapes from two probe runs, groups under the budget (one pass over the data each).
    const targets = calibrated();
    const sizes = new Map<string, number>();
    for await (const feeds of batches()) observeBatchSizes(graphInputs, feeds, sizes);
    let unknown: string | undefined;
    try {
      probed = await probeActivationShapes(session, graphInputs, targets, label);
    } catch (e) {
      unknown = `the probe runs failed (${(e as Error).message.split('\n')[0]})`;
    }
    split = probed ? groupByBudget(targets, probed, sizes, opts.activationMemoryBytes, inputNames) : { groups: [targets], groupBytes: [0], totalBytes: 0, oversized: [] };
    memory = {
      budgetBytes: opts.activationMemoryBytes,
      shapes: unknown ?? 'probed',
      sizes: Object.fromEntries(sizes),
      passes: split.groups.length,
      activationBytes: split.totalBytes,
      bytesPerRun: Math.max(...split.groupBytes),
      oversized: split.oversized,
    };
    if (split.groups.length === 1) stats = await collect(session, targets, 1, 1);
  } finally {
    await first.session.release();
    await first.cleanup();
  }
  if (!stats) {
    // One augmented model per group: onnxruntime holds every graph output of a run to its end.
    const merged = new Map<string, TensorStats>();
    for (const [g, group] of split.groups.entries()) {
      const { session, cleanup } = await openAugmented(augment(prepared, group), source.baseDir, label);
      try {
        stats = await collect(session, group, g + 1, split.groups.length);
        for (const [name, s] of stats.stats) merged.set(name, s);
      } finally {
        await session.release();
        await cleanup();
      }
    }
    stats = { ...stats!, stats: merged };
  }

  const range = quantRange({ type: opts.calibration.activationType, symmetric: opts.calibration.activationSymmetric, reduceRange: false });
  const params = new Map<string, QParams>();
  const ranges: ActivationRangeReport[] = [];
  for (const [name, s] of stats.stats) {
    const r = tensorRange(s, { method: opts.calibration.method, percentile: opts.calibration.percentile });
    const p = computeQParams(Math.fround(r.rmin), Math.fround(r.rmax), range, opts.calibration.activationSymmetric);
    params.set(name, p);
    const shape = probed?.shapes.get(name);
    ranges.push({ name, min: s.min, max: s.max, rmin: r.rmin, rmax: r.rmax, scale: p.scale, zeroPoint: p.zeroPoint, ...(shape ? { shape: describeShape(shape) } : {}) });
  }

  const emitted = emitStatic(graph, plan, params, constants, opts, ctx, { baseDir: source.baseDir, label });
  for (const [i, p] of plan.planned) {
    const n = graph.node![i]!;
    const tensorsRead = p.plan.weights.map((w) => n.input![w.input]!);
    plan.decisions.set(i, { node: plan.labels[i]!, opType: n.opType!, status: 'quantized', tensors: tensorsRead });
  }
  const decisions: NodeDecision[] = [...plan.decisions.entries()].sort((a, b) => a[0] - b[0]).map(([, d]) => d);
  const out: ModelProto = { ...prepared, graph: emitted.graph, opsetImport: [...(prepared.opsetImport ?? [])] };
  if (emitted.graph.node!.some((n) => n.domain === 'com.microsoft') && !out.opsetImport!.some((o) => o.domain === 'com.microsoft')) {
    out.opsetImport!.push({ domain: 'com.microsoft', version: 1 });
  }
  return {
    model: out,
    report: {
      options: opts,
      decisions,
      tensors: emitted.weights,
      initializerBytes: { before: tensorBytes(model), after: tensorBytes(out) },
      preparation,
      calibration: {
        method: opts.calibration.method,
        rows: stats.rows,
        batches: stats.batches,
        activationType: opts.calibration.activationType,
        foldedBatchNorms: folded.folded,
        qoperatorNodes: emitted.qoperatorNodes,
        memory,
        activations: ranges,
      },
    },
  };
}

function tensorBytes(model: ModelProto): number {
  let total = 0;
  for (const t of allTensors(model)) total += tensorByteLength(t);
  return total;
}

/**
 * The model with `tensors` as extra graph outputs (graph inputs are read from the feeds instead).
 * The outputs carry no type: onnxruntime infers it, so a value that turns out not to be float
 * (shape arithmetic through an Add) loads and is then dropped, instead of failing the load.
 */
function augment(model: ModelProto, tensors: string[]): ModelProto {
  const graph = model.graph!;
  const have = new Set([...(graph.output ?? []), ...(graph.input ?? [])].map((v) => v.name ?? ''));
  const extra = tensors.filter((t) => !have.has(t)).map((t) => ({ name: t }));
  return { ...model, graph: { ...graph, output: [...(graph.output ?? []), ...extra] } };
}

/**
 * An onnxruntime session on the augmented model. Weights the lazy loader left on disk stay
 * there: the model is written to a temp folder next to copies of the files holding them
 * (onnxruntime refuses external data outside the model's folder, links included; the copy is
 * done by the kernel), so the weights are never in this process's memory.
 */
async function openAugmented(model: ModelProto, baseDir: string | undefined, label: string) {
  const files = new Set<string>();
  for (const t of allTensors(model)) {
    const location = t.externalData?.find((e) => e.key === 'location')?.value;
    if (t.dataLocation === 1 && location) files.add(location);
  }
  if (files.size === 0) {
    const { session } = await openSession(encodeModel(model), { graphOptimizationLevel: 'basic', logSeverityLevel: 3 });
    return { session, cleanup: async () => {} };
  }
  if (!baseDir) throw new UserError(`${label}: the model keeps weights in external files and no model directory was given`);
  const dir = await mkdtemp(join(tmpdir(), 'distillery-calibrate-'));
  try {
    for (const f of files) await copyFile(join(baseDir, f), join(dir, f));
    const path = join(dir, 'augmented.onnx');
    await saveModel(model, path, { externalData: false });
    const { session } = await openSession(path, { graphOptimizationLevel: 'basic', logSeverityLevel: 3 });
    return { session, cleanup: () => rm(dir, { recursive: true, force: true }) };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
