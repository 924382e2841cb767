import { UserError } from '../errors.js';
import {
  allTensors,
  DataType,
  dtypeName,
  elementCount,
  ensureOpset,
  getAttribute,
  makeAttribute,
  makeTensor,
  NameAllocator,
  nodeInputs,
  opsetVersion,
  tensorByteLength,
  tensorDims,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from '../onnx/index.js';
import { nearestNames } from './names.js';
import { resolveQuantizeOptions, type QuantizeOptions, type ResolvedQuantizeOptions } from './options.js';
import { blockQuantizeRules, quantizeRules, supportedOpTypes } from './ops/registry.js';
import { blockQuantizeTensor, type BlockWeightEntry } from './block-weight.js';
import type { NodeDecision, QuantizedTensorReport, QuantizeReport } from './report.js';
import {
  MS_DOMAIN,
  type AddNodeOptions,
  type BlockWeightNames,
  type BlockWeightRequest,
  type ConstantWeight,
  type PlanContext,
  type QuantizedActivationNames,
  type QuantizedWeightNames,
  type RewriteContext,
  type RulePlan,
  type WeightRequest,
} from './rule.js';
import { tensorFloatSource } from './float-source.js';
import { prepareForQuantization } from './prepare/prepare.js';
import type { QuantSpec } from './qparams.js';
import { quantizeWeight, transpose2d, weightTensorReport, type QuantizedWeight } from './weights.js';

export interface QuantizeResult {
  model: ModelProto;
  report: QuantizeReport;
}

export interface QuantizeSource {
  /** Prefixes error messages (the file path). Default 'model'. */
  label?: string;
  /** Directory external-data tensors resolve against (models from loadModelLazy keep weights on disk). */
  baseDir?: string;
  /** Quantizes one weight (default: quantizeWeight on the tensor's values); parallel.ts supplies results computed in worker threads. */
  weightQuantizer?: WeightQuantizer;
}

/**
 * How the driver turns one float weight into int8: `tensor` is the float TensorProto (maybe
 * external data); `transposed`: the driver stores a transposed copy of the result's data.
 */
export type WeightQuantizer = (name: string, tensor: TensorProto, dims: number[], spec: QuantSpec, axis: number | undefined, transposed: boolean) => QuantizedWeight;

/**
 * Quantizes a model in memory. The input model is not modified: the result shares the
 * tensors and nodes it leaves unchanged and holds new ones for what it rewrote. Every node of
 * a selected op type gets a decision in the report (quantized, or skipped and why).
 */
export function quantizeModel(input: ModelProto, options: QuantizeOptions = {}, source: QuantizeSource = {}): QuantizeResult {
  const label = source.label ?? 'model';
  const opts = resolveQuantizeOptions(options, supportedOpTypes);
  if (opts.mode === 'static') throw new UserError(`${label}: --mode static is asynchronous (calibration runs the model): use quantizeModelStatic`);
  const { model, report: preparation } = prepareForQuantization(input, opts);
  const graph = model.graph;
  if (!graph) throw new UserError(`${label}: model has no graph`);
  const nodes = graph.node ?? [];
  checkNodeNames(label, nodes, opts);

  const session = new QuantizeSession(model, graph, opts, label, source.baseDir, source.weightQuantizer);
  const decisions: Array<NodeDecision | undefined> = [];
  const plans = new Map<number, RulePlan>();
  const labels = nodes.map((n, i) => n.name || `${n.opType}#${i}`);

  const rules = opts.block ? blockQuantizeRules : quantizeRules;
  nodes.forEach((node, i) => {
    const rule = rules.get(node.opType ?? '');
    if (!rule || !opts.opTypes.includes(rule.opType) || (node.domain && node.domain !== 'ai.onnx')) return;
    const skip = (reason: string) => (decisions[i] = { node: labels[i]!, opType: rule.opType, status: 'skipped', reason });
    if (node.name && opts.excludeNodes.includes(node.name)) return skip('excluded by --exclude-nodes');
    if (opts.includeNodes && !(node.name && opts.includeNodes.includes(node.name))) return skip('not in --include-nodes');
    const plan = rule.plan(node, session);
    if ('skip' in plan) return skip(plan.skip);
    plans.set(i, plan);
  });

  // A weight is quantized only when every reader is: otherwise the float copy stays and the int8
  // one would only add bytes. Skipping one reader can strand another, so repeat until stable.
  const readers = session.readers;
  for (let changed = true; changed; ) {
    changed = false;
    for (const [i, plan] of plans) {
      for (const w of plan.weights) {
        const name = nodes[i]!.input![w.input]!;
        const other = (readers.get(name) ?? []).find((r) => r === 'output' || !plans.has(r));
        if (other === undefined) continue;
        const who = other === 'output' ? 'it is also a graph output' : `also read by ${labels[other]} (${nodes[other]!.opType}), which stays float`;
        decisions[i] = { node: labels[i]!, opType: nodes[i]!.opType!, status: 'skipped', reason: `shared weight ${name}: ${who}` };
        plans.delete(i);
        changed = true;
        break;
      }
    }
  }

  const absorbed = new Set([...plans.values()].map((p) => p.absorbs?.node).filter((n): n is NodeProto => n !== undefined));
  const newNodes: NodeProto[] = [];
  nodes.forEach((node, i) => {
    if (absorbed.has(node)) return;
    const plan = plans.get(i);
    if (!plan) return void newNodes.push(node);
    const rule = rules.get(node.opType!)!;
    const emitted = session.rewrite(node, i, plan.absorbs?.node, () => rule.rewrite(node, plan, session));
    newNodes.push(...emitted);
    decisions[i] = { node: labels[i]!, opType: rule.opType, status: 'quantized', tensors: session.tensorsOf(node), ...(plan.note ? { note: plan.note } : {}) };
  });

  const quantized = session.finish(newNodes);
  return {
    model: quantized,
    report: {
      options: opts,
      decisions: decisions.filter((d): d is NodeDecision => d !== undefined),
      tensors: session.tensorReports(),
      initializerBytes: { before: tensorBytes(model), after: tensorBytes(quantized) },
      preparation,
    },
  };
}

function tensorBytes(model: ModelProto): number {
  let total = 0;
  for (const t of allTensors(model)) total += tensorByteLength(t);
  return total;
}

/** Every name in --include-nodes / --exclude-nodes must name a node; a typo is an error with suggestions. */
function checkNodeNames(label: string, nodes: readonly NodeProto[], opts: ResolvedQuantizeOptions): void {
  const known = new Set(nodes.map((n) => n.name ?? '').filter(Boolean));
  for (const [flag, list] of [['--exclude-nodes', opts.excludeNodes], ['--include-nodes', opts.includeNodes ?? []]] as const) {
    const unknown = list.filter((n) => !known.has(n));
    if (unknown.length === 0) continue;
    const first = unknown[0]!;
    const near = nearestNames(first, [...known], 3);
    const more = unknown.length > 1 ? ` (and ${unknown.length - 1} more unknown: ${unknown.slice(1, 4).join(', ')})` : '';
    throw new UserError(
      `${label}: ${flag}: no node named "${first}"${more}; ${near.length ? `nearest: ${near.map((n) => `"${n}"`).join(', ')}` : 'the graph has no named nodes'}`,
    );
  }
}

type Reader = number | 'output';

interface WeightEntry {
  names: QuantizedWeightNames | BlockWeightNames;
  report: QuantizedTensorReport;
  tensors: TensorProto[];
}

/** State of one quantization pass: lookups over the input graph, caches, and what it adds. */
class QuantizeSession implements PlanContext, RewriteContext {
  readonly opset: number;
  readonly readers = new Map<string, Reader[]>();
  private readonly names: NameAllocator;
  private readonly initializers: Map<string, TensorProto>;
  private readonly constantNodes = new Map<string, NodeProto>();
  private readonly graphInputs: Set<string>;
  private readonly weights = new Map<string, WeightEntry>();
  /** Float tensors quantized (to remove) -> their entries. */
  private readonly replaced = new Map<string, WeightEntry[]>();
  private readonly activations = new Map<string, QuantizedActivationNames>();
  private readonly extraInitializers: TensorProto[] = [];
  private readonly tensorsByNode = new Map<NodeProto, string[]>();
  private current: { node: NodeProto; absorbed: NodeProto | undefined; base: string; emitted: NodeProto[] } | undefined;

  constructor(
    private readonly model: ModelProto,
    private readonly graph: GraphProto,
    readonly options: ResolvedQuantizeOptions,
    private readonly label: string,
    private readonly baseDir: string | undefined,
    private readonly weightQuantizer: WeightQuantizer | undefined,
  ) {
    this.opset = opsetVersion(model, '') ?? 1;
    this.names = new NameAllocator(graph);
    this.initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
    this.graphInputs = new Set((graph.input ?? []).map((v) => v.name ?? ''));
    (graph.node ?? []).forEach((n, i) => {
      if (n.opType === 'Constant' && (!n.domain || n.domain === 'ai.onnx') && getAttribute(n, 'value')?.t) this.constantNodes.set(n.output![0]!, n);
      for (const name of new Set(nodeInputs(n))) {
        let list = this.readers.get(name);
        if (!list) this.readers.set(name, (list = []));
        list.push(i);
      }
    });
    for (const o of graph.output ?? []) {
      const list = this.readers.get(o.name ?? '') ?? [];
      list.push('output');
      this.readers.set(o.name ?? '', list);
    }
  }

  // ---- PlanContext

  constantWeight(name: string): ConstantWeight | { skip: string } {
    if (this.graphInputs.has(name)) {
      return { skip: `weight ${name} is a graph input (it can be fed at run time)` };
    }
    const tensor = this.initializers.get(name) ?? getAttribute(this.constantNodes.get(name) ?? {}, 'value')?.t ?? undefined;
    if (!tensor) return { skip: `weight ${name} is not a constant (computed at run time)` };
    if (tensor.dataType !== DataType.FLOAT) return { skip: `weight ${name} is ${dtypeName(tensor.dataType)}; only float32 weights are quantized` };
    const dims = tensorDims(tensor);
    const n = elementCount(dims);
    if (n < this.options.minElements) return { skip: `weight ${name} is too small (${n} elements < --min-elements ${this.options.minElements})` };
    return { tensor, dims };
  }

  constantInfo(name: string): { dims: number[]; dataType: number } | undefined {
    if (this.graphInputs.has(name)) return undefined;
    const tensor = this.initializers.get(name) ?? getAttribute(this.constantNodes.get(name) ?? {}, 'value')?.t ?? undefined;
    return tensor ? { dims: tensorDims(tensor), dataType: tensor.dataType ?? 0 } : undefined;
  }

  soleReader(value: string): NodeProto | undefined {
    const readers = this.readers.get(value) ?? [];
    return readers.length === 1 && readers[0] !== 'output' ? this.graph.node![readers[0]!] : undefined;
  }

  // ---- RewriteContext

  weight(node: NodeProto, request: WeightRequest): QuantizedWeightNames {
    const name = node.input![request.input]!;
    const perChannel = this.options.perChannel;
    const key = `${name}|${request.transpose ? 'T' : ''}|${perChannel ? request.channelAxis : ''}`;
    let entry = this.weights.get(key);
    if (!entry) {
      entry = this.quantizeTensor(name, request);
      this.weights.set(key, entry);
      const list = this.replaced.get(name) ?? [];
      list.push(entry);
      this.replaced.set(name, list);
    }
    entry.report.nodes.push(this.current!.base);
    const mine = this.tensorsByNode.get(node) ?? [];
    mine.push(name);
    this.tensorsByNode.set(node, mine);
    return entry.names as QuantizedWeightNames;
  }

  private quantizeTensor(name: string, request: WeightRequest): WeightEntry {
    const found = this.constantWeight(name);
    if ('skip' in found) throw new Error(`internal: ${name} was planned but is not a usable weight (${found.skip})`);
    const { tensor, dims } = found;
    const o = this.options;
    const axis = o.perChannel ? request.channelAxis : undefined;
    let q;
    try {
      const spec = { type: o.weightType, symmetric: o.symmetric, reduceRange: o.reduceRange };
      q = this.weightQuantizer
        ? this.weightQuantizer(name, tensor, dims, spec, axis, Boolean(request.transpose))
        : quantizeWeight(name, tensorFloatSource(tensor, this.baseDir, this.label), dims, spec, axis);
    } catch (e) {
      // Errors from reading the weight already name the file.
      if (e instanceof UserError && !e.message.startsWith(`${this.label}: `)) throw new UserError(`${this.label}: ${e.message}`);
      throw e;
    }
    let data = q.data;
    let storedDims = dims;
    let storedAxis = axis;
    if (request.transpose) {
      data = transpose2d(data, dims[0]!, dims[1]!);
      storedDims = [dims[1]!, dims[0]!];
      if (axis !== undefined) storedAxis = 1 - axis;
    }
    const qType = o.weightType === 'int8' ? DataType.INT8 : DataType.UINT8;
    const suffix = request.transpose ? '_T' : '';
    const dataName = this.names.take(`${name}${suffix}_quantized`);
    const scaleName = this.names.take(`${name}${suffix}_scale`);
    const zpName = this.names.take(`${name}${suffix}_zero_point`);
    const paramDims = axis === undefined ? [] : [q.scales.length];
    const zp = o.weightType === 'int8' ? Int8Array.from(q.zeroPoints) : Uint8Array.from(q.zeroPoints);
    const dataTensor: TensorProto = makeTensor(dataName, data, storedDims, qType);
    if (tensor.docString) dataTensor.docString = tensor.docString;
    if (tensor.metadataProps?.length) dataTensor.metadataProps = tensor.metadataProps;
    const tensors = [dataTensor, makeTensor(scaleName, q.scales, paramDims, DataType.FLOAT), makeTensor(zpName, zp, paramDims, qType)];
    return {
      names: { data: dataName, scale: scaleName, zeroPoint: zpName, axis: storedAxis },
      tensors,
      report: weightTensorReport(name, dataName, this.current!.node.opType!, dims, o.weightType, axis, q, tensor, tensors),
    };
  }

  blockWeight(node: NodeProto, request: BlockWeightRequest): BlockWeightNames {
    const name = node.input![request.input]!;
    const key = `${name}|block|${request.rows}|${request.padded}`;
    let entry = this.weights.get(key);
    if (!entry) {
      const found = this.constantWeight(name);
      if ('skip' in found) throw new Error(`internal: ${name} was planned but is not a usable weight (${found.skip})`);
      const source = tensorFloatSource(found.tensor, this.baseDir, this.label);
      try {
        entry = blockQuantizeTensor(name, found.tensor, source, found.dims, request, this.options.block!, this.names, this.current!.node.opType!);
      } catch (e) {
        if (e instanceof UserError) throw new UserError(`${this.label}: ${e.message}`);
        throw e;
      }
      this.weights.set(key, entry);
      this.replaced.set(name, [...(this.replaced.get(name) ?? []), entry]);
    }
    entry.report.nodes.push(this.current!.base);
    this.tensorsByNode.set(node, [...(this.tensorsByNode.get(node) ?? []), name]);
    return (entry as BlockWeightEntry).names;
  }

  activation(name: string): QuantizedActivationNames {
    let names = this.activations.get(name);
    if (!names) {
      names = {
        data: this.names.take(`${name}_quantized`),
        scale: this.names.take(`${name}_scale`),
        zeroPoint: this.names.take(`${name}_zero_point`),
      };
      this.activations.set(name, names);
      this.current!.emitted.push({
        name: this.names.take(`${name}_DynamicQuantizeLinear`),
        opType: 'DynamicQuantizeLinear',
        input: [name],
        output: [names.data, names.scale, names.zeroPoint],
      });
    }
    return names;
  }

  constant(base: string, values: Float32Array, dims: number[]): string {
    const name = this.names.take(`${this.current!.base}_${base}`);
    this.extraInitializers.push(makeTensor(name, values, dims, DataType.FLOAT));
    return name;
  }

  add(opType: string, inputs: string[], opts: AddNodeOptions = {}): string[] {
    const cur = this.current!;
    const outputs = opts.outputs ?? [this.names.take(`${cur.base}_${opType}_out`)];
    const node: NodeProto = { input: inputs, output: outputs, opType };
    const originalOutput = (cur.absorbed ?? cur.node).output?.[0];
    // The node that writes the original output takes over the original's name and metadata
    // (and an absorbed bias Add's metadata too).
    if (originalOutput && outputs.includes(originalOutput)) {
      if (cur.node.name) node.name = cur.node.name;
      if (cur.node.docString) node.docString = cur.node.docString;
      const metadata = [...(cur.node.metadataProps ?? []), ...(cur.absorbed?.metadataProps ?? [])];
      if (metadata.length) node.metadataProps = metadata;
    } else {
      node.name = this.names.take(`${cur.base}_${opType}`);
    }
    if (opts.domain) node.domain = opts.domain;
    const attrs = Object.entries(opts.attrs ?? {}).filter(([, v]) => v !== undefined);
    const attribute = [...(opts.attributes ?? []), ...attrs.map(([k, v]) => makeAttribute(k, v!))];
    if (attribute.length) node.attribute = attribute;
    cur.emitted.push(node);
    return outputs;
  }

  // ---- driver side

  rewrite(node: NodeProto, index: number, absorbed: NodeProto | undefined, run: () => void): NodeProto[] {
    this.current = { node, absorbed, base: node.name || `${node.opType}_${index}`, emitted: [] };
    try {
      run();
      return this.current.emitted;
    } finally {
      this.current = undefined;
    }
  }

  tensorsOf(node: NodeProto): string[] {
    return [...new Set(this.tensorsByNode.get(node) ?? [])];
  }

  tensorReports(): QuantizedTensorReport[] {
    return [...this.weights.values()].map((e) => e.report);
  }

  /** The output model: new node list, float weights swapped for their quantized tensors. */
  finish(nodes: NodeProto[]): ModelProto {
    const graph = this.graph;
    const replaced = this.replaced;
    const initializer: TensorProto[] = [];
    for (const t of graph.initializer ?? []) {
      const entries = replaced.get(t.name ?? '');
      if (entries) for (const e of entries) initializer.push(...e.tensors);
      else initializer.push(t);
    }
    const keptNodes: NodeProto[] = [];
    for (const n of nodes) {
      const out = n.output?.[0] ?? '';
      if (this.constantNodes.get(out) === n && replaced.has(out)) {
        for (const e of replaced.get(out)!) initializer.push(...e.tensors);
        continue;
      }
      keptNodes.push(n);
    }
    initializer.push(...this.extraInitializers);
    // Value infos of values the rewrite removed (a folded MatMul output, a Constant's output) go too.
    const before = new Set((graph.node ?? []).flatMap((n) => n.output ?? []));
    const after = new Set(keptNodes.flatMap((n) => n.output ?? []));
    const valueInfo = graph.valueInfo?.filter((v) => !(replaced.has(v.name ?? '') || (before.has(v.name ?? '') && !after.has(v.name ?? ''))));
    const newGraph: GraphProto = { ...graph, node: keptNodes, initializer };
    if (valueInfo) newGraph.valueInfo = valueInfo;
    const out: ModelProto = { ...this.model, graph: newGraph, opsetImport: [...(this.model.opsetImport ?? [])] };
    if (keptNodes.some((n) => n.domain === MS_DOMAIN)) ensureOpset(out, MS_DOMAIN, 1);
    return out;
  }
}
