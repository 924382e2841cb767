/**
 * What gradient rules use to write backward nodes: a GraphBuilder plus the facts of every
 * forward value (element type, static dims), constant lookup, and the few patterns every rule
 * repeats (typed scalars, reductions written for the graph's opset, summing a broadcast
 * gradient back to an input's shape, zeros of a value's shape). Constants are cached so a rule
 * asking for the same scalar twice gets one initializer.
 */
import {
  attrTensor,
  DataType,
  makeTensor,
  tensorToArray,
  type GraphBuilder,
  type NodeOptions,
  type NodeProto,
  type TensorProto,
} from '../onnx/index.js';
import type { FactTable, StaticDim, ValueFacts } from './shapes.js';

export class GradEmitter {
  private readonly scalars = new Map<string, string>();
  private readonly shapes = new Map<string, string>();
  private readonly constants = new Map<string, TensorProto>();

  constructor(
    readonly b: GraphBuilder,
    readonly facts: FactTable,
  ) {
    for (const t of b.graph.initializer ?? []) this.constants.set(t.name ?? '', t);
    for (const n of b.graph.node ?? []) {
      const t = n.opType === 'Constant' && !n.domain ? constantNodeTensor(n) : undefined;
      if (t) this.constants.set(n.output![0]!, t);
    }
  }

  get opset(): number {
    return this.b.opset;
  }

  op(opType: string, inputs: readonly string[], attrs?: NodeOptions['attrs'], opts: Omit<NodeOptions, 'attrs'> = {}): string {
    return this.b.op(opType, inputs, attrs, { name: `grad/${opType}`, ...opts });
  }

  ops(opType: string, inputs: readonly string[], outputs: number, attrs?: NodeOptions['attrs']): string[] {
    return this.b.node(opType, inputs, { attrs, outputs, name: `grad/${opType}` });
  }

  fact(name: string): ValueFacts {
    const f = this.facts.get(name);
    if (!f) throw new Error(`autodiff: no shape facts for value "${name}"`);
    return f;
  }

  dims(name: string): StaticDim[] {
    return this.fact(name).dims;
  }

  rank(name: string): number {
    return this.fact(name).dims.length;
  }

  elemType(name: string): number {
    return this.fact(name).elemType;
  }

  /** Records facts for a value the backward pass creates (so later rules can ask). */
  setFact(name: string, f: ValueFacts): string {
    this.facts.set(name, f);
    return name;
  }

  /** The tensor behind a value when it is an initializer or a Constant node's output. */
  constTensor(name: string): TensorProto | undefined {
    return this.constants.get(name);
  }

  constNumbers(name: string): number[] | undefined {
    const t = name ? this.constants.get(name) : undefined;
    if (!t) return undefined;
    const a = tensorToArray(t);
    const out: number[] = [];
    for (let i = 0; i < a.length; i++) out.push(Number(a[i]!));
    return out;
  }

  /** A scalar initializer of the element type of `like` (float or double), cached. */
  scalar(value: number, like: string | number): string {
    const elemType = typeof like === 'number' ? like : this.elemType(like);
    const key = `${elemType}:${value}`;
    let name = this.scalars.get(key);
    if (!name) {
      const data = elemType === DataType.DOUBLE ? Float64Array.of(value) : elemType === DataType.INT64 ? BigInt64Array.of(BigInt(value)) : Float32Array.of(value);
      name = this.b.initializer('grad_const', data, [], elemType);
      this.scalars.set(key, name);
    }
    return name;
  }

  /** A 1-D int64 initializer, cached by value. */
  ints(values: readonly number[]): string {
    const key = `i64:[${values.join(',')}]`;
    let name = this.scalars.get(key);
    if (!name) {
      name = this.b.int64(values, [values.length], 'grad_ints');
      this.scalars.set(key, name);
    }
    return name;
  }

  /** Shape(x), emitted once per value. */
  shapeOf(x: string): string {
    let s = this.shapes.get(x);
    if (!s) {
      s = this.op('Shape', [x]);
      this.shapes.set(x, s);
    }
    return s;
  }

  /** Zeros with x's shape and element type. */
  zerosLike(x: string): string {
    return this.zerosOfShape(this.shapeOf(x), this.elemType(x));
  }

  zerosOfShape(shape: string, elemType: number): string {
    const value = makeTensor('value', elemType === DataType.DOUBLE ? new Float64Array(1) : new Float32Array(1), [1], elemType);
    return this.op('ConstantOfShape', [shape], { value });
  }

  /**
   * A Reduce* node written for the graph's opset: ReduceSum takes axes as an input from opset
   * 13, the other reductions from opset 18 (an attribute before).
   */
  reduce(opType: string, x: string, axes: readonly number[] | undefined, keepdims: boolean): string {
    const asInput = opType === 'ReduceSum' ? this.opset >= 13 : this.opset >= 18;
    if (!axes) return this.op(opType, [x], { keepdims: keepdims ? 1 : 0 });
    return asInput
      ? this.op(opType, [x, this.ints(axes)], { keepdims: keepdims ? 1 : 0 })
      : this.op(opType, [x], { axes: [...axes], keepdims: keepdims ? 1 : 0 });
  }

  /**
   * Sums a gradient `g` (dims `gDims`, the broadcast result) down to `targetDims`, the shape of
   * the input it belongs to: leading dims the input lacks are summed away, fixed 1-dims of the
   * input that are wider in `g` are summed with keepdims.
   */
  sumToShape(g: string, gDims: readonly StaticDim[], targetDims: readonly StaticDim[]): string {
    const lead = gDims.length - targetDims.length;
    if (lead < 0) throw new Error(`autodiff: gradient of rank ${gDims.length} cannot be summed to rank ${targetDims.length}`);
    const axes: number[] = [];
    for (let i = 0; i < lead; i++) axes.push(i);
    targetDims.forEach((d, i) => {
      if (d === 1 && gDims[lead + i] !== 1) axes.push(lead + i);
    });
    if (!axes.length) return g;
    const summed = this.reduce('ReduceSum', g, axes, true);
    if (!lead) return summed;
    return this.op('Squeeze', [summed, this.ints(Array.from({ length: lead }, (_, i) => i))]);
  }

  /** Sum of several gradient contributions (Add for two, Sum for more). */
  sum(parts: readonly string[]): string {
    if (parts.length === 1) return parts[0]!;
    if (parts.length === 2) return this.op('Add', [parts[0]!, parts[1]!], undefined, { name: 'grad/accumulate' });
    return this.op('Sum', [...parts], undefined, { name: 'grad/accumulate' });
  }
}

/** Numpy-style broadcast of static dims ('?' wins unless the other side is a fixed non-1). */
export function broadcastDims(a: readonly StaticDim[], b: readonly StaticDim[]): StaticDim[] {
  const r = Math.max(a.length, b.length);
  const out: StaticDim[] = [];
  for (let i = 0; i < r; i++) {
    const x = i - (r - a.length) >= 0 ? a[i - (r - a.length)]! : 1;
    const y = i - (r - b.length) >= 0 ? b[i - (r - b.length)]! : 1;
    if (x === 1) out.push(y);
    else if (y === 1) out.push(x);
    else if (x === '?' || y === '?') out.push(x === '?' ? y : x);
    else out.push(Math.max(x, y));
  }
  return out;
}

/** The tensor a Constant node holds, whichever value_* attribute it uses. */
export function constantNodeTensor(n: NodeProto): TensorProto | undefined {
  const t = attrTensor(n, 'value');
  if (t) return t;
  for (const a of n.attribute ?? []) {
    if (a.name === 'value_float') return makeTensor('', Float32Array.of(a.f ?? 0), []);
    if (a.name === 'value_floats') return makeTensor('', Float32Array.from(a.floats ?? []), [(a.floats ?? []).length]);
    if (a.name === 'value_int') return makeTensor('', BigInt64Array.of(BigInt(String(a.i ?? 0))), []);
    if (a.name === 'value_ints') return makeTensor('', BigInt64Array.from((a.ints ?? []).map((v) => BigInt(String(v)))), [(a.ints ?? []).length]);
  }
  return undefined;
}

