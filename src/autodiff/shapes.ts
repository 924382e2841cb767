/**
 * Static facts about every value of a graph (element type, rank, which dims are fixed), found
 * by running the graph, since we have no ONNX shape inference in JS.
 *
 * The graph runs twice in onnxruntime with every intermediate value exposed as an output, on
 * sample inputs whose symbolic dims take different sizes > 1 in each run (3/8 for the first
 * symbol, 5/11 for the second, ...). A dim that has the same size in both runs is fixed (and a
 * fixed 1 is a broadcast dim); one that differs is dynamic ('?'). Gradient rules use this to
 * emit static ReduceSum axes for broadcasting, while everything dynamic (batch, sequence) stays
 * computed at run time, so the training graph accepts any batch size and sequence length.
 */
import * as ort from 'onnxruntime-node';
import { UserError } from '../errors.js';
import {
  DataType,
  encodeModel,
  makeValueInfo,
  runtimeInputs,
  tensorDims,
  valueShape,
  type ModelProto,
  type TensorProto,
  type ValueInfoProto,
} from '../onnx/index.js';
import { inputSymbols, probeFeeds, probeSymbolSizes } from '../runtime/probe-feeds.js';
import { openSession } from '../runtime/session.js';

/** A dim: its size when fixed, '?' when it changes with the inputs. */
export type StaticDim = number | '?';

export interface ValueFacts {
  elemType: number;
  dims: StaticDim[];
}

export type FactTable = Map<string, ValueFacts>;

const ortTypeCodes: Record<string, number> = {
  float32: DataType.FLOAT, float64: DataType.DOUBLE, float16: DataType.FLOAT16, int64: DataType.INT64, int32: DataType.INT32,
  int8: DataType.INT8, uint8: DataType.UINT8, bool: DataType.BOOL, int16: DataType.INT16, uint16: DataType.UINT16,
  uint32: DataType.UINT32, uint64: DataType.UINT64, string: DataType.STRING,
};

export function isFloatType(elemType: number | undefined): boolean {
  return elemType === DataType.FLOAT || elemType === DataType.DOUBLE || elemType === DataType.FLOAT16 || elemType === DataType.BFLOAT16;
}

export interface ProbeOptions {
  /**
   * Sample feeds for one probe run given the sizes chosen for symbolic dims; by default int
   * inputs are zeros (valid indices and masks) and float inputs small random values.
   */
  sampleFeeds?: (sizes: Map<string, number>, run: 0 | 1) => Record<string, ort.Tensor>;
  /** Extra facts for inputs without declared shapes. */
  label?: string;
}

/**
 * Facts for every graph input, initializer and node output of `model`. Values produced only
 * inside subgraphs are not covered (rules never need them).
 */
export async function probeValueFacts(model: ModelProto, opts: ProbeOptions = {}): Promise<FactTable> {
  const graph = model.graph!;
  const label = opts.label ?? 'model';
  const realInputs = runtimeInputs(graph);
  for (const v of realInputs) {
    if (!valueShape(v)) throw new UserError(`${label}: graph input "${v.name}" declares no shape; cannot probe shapes for training`);
  }
  const symbols = inputSymbols(realInputs, 'shared');
  const sizes = (run: 0 | 1) => probeSymbolSizes(symbols, run);

  // Expose every node output as a graph output (types left unspecified: onnxruntime infers them).
  const declared = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  const extra: ValueInfoProto[] = [];
  for (const n of graph.node ?? []) for (const o of n.output ?? []) if (o && !declared.has(o)) extra.push({ name: o });
  const probeModel: ModelProto = { ...model, graph: { ...graph, output: [...(graph.output ?? []), ...extra] } };
  const { session } = await openSession(encodeModel(probeModel), { graphOptimizationLevel: 'disabled', threads: 1 });
  try {
    const runs: Array<Record<string, ort.Tensor>> = [];
    for (const run of [0, 1] as const) {
      const feeds = opts.sampleFeeds ? opts.sampleFeeds(sizes(run), run) : probeFeeds(realInputs, sizes(run), 'shared', label);
      const out = (await session.run(feeds)) as Record<string, ort.Tensor>;
      runs.push({ ...feeds, ...out });
    }
    const facts: FactTable = new Map();
    for (const t of graph.initializer ?? []) facts.set(t.name ?? '', initializerFacts(t));
    for (const [name, a] of Object.entries(runs[0]!)) {
      const b = runs[1]![name];
      if (!b) continue;
      facts.set(name, {
        elemType: ortTypeCodes[a.type] ?? DataType.UNDEFINED,
        dims: a.dims.length === b.dims.length ? a.dims.map((d, i) => (d === b.dims[i] ? d : '?')) : [],
      });
    }
    return facts;
  } finally {
    await session.release();
  }
}

export function initializerFacts(t: TensorProto): ValueFacts {
  return { elemType: t.dataType ?? DataType.UNDEFINED, dims: tensorDims(t) };
}

/** The value info of a value for a graph input/output declaration ('?' dims become symbolic). */
export function factsValueInfo(name: string, f: ValueFacts, symbol = (i: number) => `d${i}`): ValueInfoProto {
  return makeValueInfo(name, f.elemType, f.dims.map((d, i) => (d === '?' ? symbol(i) : d)));
}
