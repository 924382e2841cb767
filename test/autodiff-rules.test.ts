import { describe, expect, it } from 'vitest';
import { gradcheck } from '../src/autodiff/gradcheck.js';
import { SeededRandom } from '../src/architectures/random.js';
import { DataType, encodeModel, GraphBuilder, makeTensor, type ModelProto } from '../src/onnx/index.js';
import { buildGradientModel } from '../src/autodiff/gradient-model.js';
import { ort } from '../src/runtime/session.js';

/**
 * Every gradient rule against central finite differences on tiny random inputs: float64
 * where onnxruntime's CPU provider has the kernel (errors ~1e-8), float32 otherwise.
 * Input dims: numbers are fixed; 'name=4' is a symbolic dim (probed as dynamic) fed with 4.
 */
type InputSpec = (number | string)[] | { dims: (number | string)[]; int?: number[]; bool?: boolean[]; positive?: boolean; values?: number[] };

interface Case {
  dtype?: 'float32' | 'float64';
  opset?: number;
  inputs: Record<string, InputSpec>;
  build: (b: GraphBuilder, x: Record<string, string>, s: (v: number) => string) => string | string[];
  wrt?: string[];
  tol?: number;
  eps?: number;
}

async function check(c: Case): Promise<void> {
  const dtype = c.dtype ?? 'float64';
  const elem = dtype === 'float64' ? DataType.DOUBLE : DataType.FLOAT;
  const b = new GraphBuilder({ opset: c.opset ?? 17 });
  const rng = new SeededRandom(3);
  const feeds: Record<string, ort.Tensor> = {};
  const names: Record<string, string> = {};
  const floats: string[] = [];
  for (const [name, spec0] of Object.entries(c.inputs)) {
    const spec = Array.isArray(spec0) ? { dims: spec0 } : spec0;
    const dims = spec.dims.map((d) => (typeof d === 'number' ? d : d.split('=')[0]!));
    const feedDims = spec.dims.map((d) => (typeof d === 'number' ? d : Number(d.split('=')[1])));
    const n = feedDims.reduce((p, q) => p * q, 1);
    if (spec.int) {
      names[name] = b.input(name, DataType.INT64, dims);
      feeds[name] = new ort.Tensor('int64', BigInt64Array.from(spec.int.map(BigInt)), feedDims);
    } else if (spec.bool) {
      names[name] = b.input(name, DataType.BOOL, dims);
      feeds[name] = new ort.Tensor('bool', Uint8Array.from(spec.bool.map(Number)), feedDims);
    } else {
      names[name] = b.input(name, elem, dims);
      const values = spec.values ?? Array.from({ length: n }, () => (spec.positive ? 0.5 + rng.next() * 1.5 : rng.normal()));
      feeds[name] = dtype === 'float64' ? new ort.Tensor('float64', Float64Array.from(values), feedDims) : new ort.Tensor('float32', Float32Array.from(values), feedDims);
      floats.push(name);
    }
  }
  const scalar = (v: number) => b.scalar(v, 'k', elem);
  const outs = [c.build(b, names, scalar)].flat();
  outs.forEach((o, k) => {
    const name = `out${k}`;
    b.node('Identity', [o], { outputs: [name] });
    b.output(name, elem);
  });
  const model: ModelProto = b.build();
  const results = await gradcheck(model, { wrt: c.wrt ?? floats, feeds, eps: c.eps });
  const tol = c.tol ?? (dtype === 'float64' ? 1e-6 : 2e-2);
  for (const r of results) {
    const ok = r.maxAbsError <= tol * Math.max(1, r.scale);
    if (!ok) console.error(r.name, { analytic: r.analytic.slice(0, 8), numeric: r.numeric.slice(0, 8), err: r.maxAbsError });
    expect(ok, `${r.name}: max error ${r.maxAbsError} (scale ${r.scale})`).toBe(true);
    expect(r.scale, `${r.name}: gradient is all zeros, the check would prove nothing`).toBeGreaterThan(0);
  }
}

describe('elementwise binary rules (broadcasting)', () => {
  it('Add', () => check({ inputs: { a: [2, 3, 4], b: [4], c: [3, 1] }, build: (b, x) => b.op('Add', [b.op('Add', [x.a!, x.b!]), x.c!]) }));
  it('Sub', () => check({ inputs: { a: [3, 1], b: [2, 1, 4] }, build: (b, x) => b.op('Sub', [x.a!, x.b!]) }));
  it('Mul (also x * x)', () =>
    check({ inputs: { a: [2, 3], b: [2, 1] }, build: (b, x) => b.op('Mul', [b.op('Mul', [x.a!, x.b!]), x.a!]) }));
  it('Div', () => check({ inputs: { a: [2, 3], b: { dims: [3], positive: true } }, build: (b, x) => b.op('Div', [x.a!, x.b!]) }));
  it('Pow with constant exponents 2 and 3 and a tensor exponent', () =>
    check({
      inputs: { a: { dims: [2, 3], positive: true }, p: { dims: [3], positive: true } },
      build: (b, x, s) => {
        const cube = b.op('Constant', [], { value: makeTensor('v', Float64Array.of(3), []) });
        return [b.op('Pow', [x.a!, s(2)]), b.op('Pow', [x.a!, cube]), b.op('Pow', [x.a!, x.p!])];
      },
    }));
  it('Where', () =>
    check({
      inputs: { c: { dims: [2, 3], bool: [true, false, true, false, false, true] }, a: [2, 3], b: [3] },
      build: (b, x) => b.op('Where', [x.c!, x.a!, x.b!]),
    }));
});

describe('elementwise unary rules', () => {
  const unary = (op: string, opts: Partial<Case> & { positive?: boolean } = {}) =>
    check({ inputs: { x: { dims: [3, 4], positive: opts.positive } }, build: (b, x) => b.op(op, [x.x!]), ...opts });
  it('Neg', () => unary('Neg'));
  it('Sqrt', () => unary('Sqrt', { positive: true }));
  it('Reciprocal', () => unary('Reciprocal', { positive: true }));
  it('Exp', () => unary('Exp'));
  it('Log', () => unary('Log', { positive: true }));
  it('Tanh', () => unary('Tanh'));
  it('Sigmoid', () => unary('Sigmoid'));
  it('Relu', () => unary('Relu'));
  it('Erf (float32: no float64 kernel)', () => unary('Erf', { dtype: 'float32' }));
  it('Gelu opset 20, exact and tanh', () =>
    check({
      dtype: 'float32',
      opset: 20,
      inputs: { x: [3, 4] },
      build: (b, x) => [b.op('Gelu', [x.x!]), b.op('Gelu', [x.x!], { approximate: 'tanh' })],
    }));
  it('com.microsoft Gelu', () =>
    check({ dtype: 'float32', inputs: { x: [3, 4] }, build: (b, x) => b.op('Gelu', [x.x!], {}, { domain: 'com.microsoft' }) }));
});

describe('softmax and reductions', () => {
  it('Softmax on the last and an inner axis', () =>
    check({ inputs: { x: [2, 3, 4] }, build: (b, x) => [b.op('Softmax', [x.x!], { axis: -1 }), b.op('Softmax', [x.x!], { axis: 1 })] }));
  it('LogSoftmax', () => check({ inputs: { x: [2, 3, 4] }, build: (b, x) => [b.op('LogSoftmax', [x.x!], { axis: -1 }), b.op('LogSoftmax', [x.x!], { axis: 0 })] }));
  it('ReduceMean (attribute axes, keepdims 0/1, all axes, a dynamic axis)', () =>
    check({
      inputs: { x: [2, 'seq=5', 4] },
      build: (b, x) => [
        b.op('ReduceMean', [x.x!], { axes: [-1] }),
        b.op('ReduceMean', [x.x!], { axes: [1], keepdims: 0 }),
        b.op('ReduceMean', [x.x!], { keepdims: 0 }),
      ],
    }));
  it('ReduceMean at opset 18 (axes input)', () =>
    check({ opset: 18, inputs: { x: [2, 3, 4] }, build: (b, x) => b.op('ReduceMean', [x.x!, b.int64([0, 2])], { keepdims: 0 }) }));
  it('ReduceSum (axes input, keepdims 0, no axes)', () =>
    check({
      inputs: { x: [2, 3, 4] },
      build: (b, x) => [b.op('ReduceSum', [x.x!, b.int64([1])], { keepdims: 0 }), b.op('ReduceSum', [x.x!, b.int64([-1])]), b.op('ReduceSum', [x.x!])],
    }));
});

describe('matrix products', () => {
  it('MatMul with a 2-D weight', () => check({ inputs: { a: [2, 3, 4], w: [4, 5] }, build: (b, x) => b.op('MatMul', [x.a!, x.w!]) }));
  it('MatMul batched with broadcasting', () => check({ inputs: { a: [2, 1, 3, 4], w: [3, 4, 2] }, build: (b, x) => b.op('MatMul', [x.a!, x.w!]) }));
  it('MatMul with 1-D operands', () =>
    check({
      inputs: { v: [4], m: [4, 5], a: [2, 3, 4], u: [4] },
      build: (b, x) => [b.op('MatMul', [x.v!, x.m!]), b.op('MatMul', [x.a!, x.u!]), b.op('MatMul', [x.v!, x.u!])],
    }));
  for (const [transA, transB] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) {
    it(`Gemm transA=${transA} transB=${transB}`, () =>
      check({
        inputs: { a: transA ? [4, 3] : [3, 4], w: transB ? [5, 4] : [4, 5], c: [5], c2: [3, 1] },
        build: (b, x) => [
          b.op('Gemm', [x.a!, x.w!, x.c!], { transA, transB, alpha: 0.7, beta: { float: 2 } }),
          b.op('Gemm', [x.a!, x.w!, x.c2!], { transA, transB }),
        ],
      }));
  }
});

describe('normalisation', () => {
  it('LayerNormalization over the last axis and over the last two', () =>
    check({
      inputs: { x: [2, 3, 4], g: [4], bias: [4], g2: [3, 4] },
      build: (b, x) => [
        b.op('LayerNormalization', [x.x!, x.g!, x.bias!], { axis: -1, epsilon: { float: 1e-5 } }),
        b.op('LayerNormalization', [x.x!, x.g2!], { axis: 1 }),
      ],
    }));
});

describe('indexing and shape rules', () => {
  it('Gather axis 0 (embedding, repeated and negative indices)', () =>
    check({
      inputs: { table: [5, 4], ids: { dims: [2, 3], int: [1, 4, 1, 0, -1, 1] } },
      build: (b, x) => b.op('Gather', [x.table!, x.ids!]),
    }));
  it('Gather axis 1 with a scalar index (pooler) and with 2-D indices', () =>
    check({
      inputs: { h: [2, 4, 3] },
      build: (b, x) => [
        b.op('Gather', [x.h!, b.int64([0], [], 'first')], { axis: 1 }),
        b.op('Gather', [x.h!, b.int64([3, 1, 1, 2], [2, 2], 'ix')], { axis: 1 }),
      ],
    }));
  it('Reshape, Flatten, Squeeze, Unsqueeze', () =>
    check({
      inputs: { x: [2, 'seq=3', 4], y: [2, 1, 3] },
      build: (b, x) => [
        b.op('Reshape', [x.x!, b.int64([0, -1])]),
        b.op('Flatten', [x.x!], { axis: 2 }),
        b.op('Squeeze', [x.y!, b.int64([1])]),
        b.op('Unsqueeze', [x.x!, b.int64([0, -1])]),
      ],
    }));
  it('Transpose (explicit and default perm)', () =>
    check({ inputs: { x: [2, 3, 4] }, build: (b, x) => [b.op('Transpose', [x.x!], { perm: [1, 2, 0] }), b.op('Transpose', [x.x!])] }));
  it('Expand', () => check({ inputs: { x: [3, 1] }, build: (b, x) => b.op('Expand', [x.x!, b.int64([2, 3, 4])]) }));
  it('Concat (fixed and dynamic sizes)', () =>
    check({
      inputs: { a: [2, 'n=3'], b: [2, 2], c: [2, 1] },
      build: (b, x) => [b.op('Concat', [x.a!, x.b!, x.c!], { axis: 1 }), b.op('Concat', [x.b!, x.c!], { axis: -1 })],
    }));
  it('Split (split input; an unused output)', () =>
    check({
      inputs: { x: [2, 6] },
      build: (b, x) => {
        const [p, , r] = b.node('Split', [x.x!, b.int64([1, 2, 3])], { attrs: { axis: 1 }, outputs: 3 });
        return [p!, r!];
      },
    }));
  it('Slice (steps, negative step, axes, run-time bounds)', () =>
    check({
      inputs: { x: [4, 'n=6'] },
      build: (b, x) => {
        const end = b.op('Gather', [b.op('Shape', [x.x!]), b.int64([1], [1])]);
        return [
          b.op('Slice', [x.x!, b.int64([1]), end, b.int64([1]), b.int64([2])]),
          b.op('Slice', [x.x!, b.int64([-1, 3]), b.int64([-100, 0]), b.int64([1, 0]), b.int64([-2, -1])]),
        ];
      },
    }));
  it('Cast between float types, Identity, inference Dropout', () =>
    check({
      inputs: { x: [2, 3] },
      build: (b, x) => {
        const down = b.op('Cast', [x.x!], { to: DataType.FLOAT });
        const up = b.op('Cast', [b.op('Mul', [down, down])], { to: DataType.DOUBLE });
        return [up, b.op('Identity', [x.x!]), b.op('Dropout', [x.x!])];
      },
      eps: 1e-3,
      tol: 1e-4,
    }));
});

describe('training-mode Dropout', () => {
  it('passes dy through the same mask the forward pass drew, scaled by 1 / (1 - ratio)', async () => {
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [4, 8]);
    b.node('Dropout', [x, b.scalar(0.25, 'ratio'), b.initializer('mode', Uint8Array.of(1), [], DataType.BOOL)], { outputs: ['y'], attrs: { seed: 3 } });
    b.output('y', DataType.FLOAT, [4, 8]);
    const gm = await buildGradientModel(b.build(), { wrt: ['x'] });
    const session = await ort.InferenceSession.create(encodeModel(gm.model));
    const xs = Float32Array.from({ length: 32 }, (_, i) => 1 + i);
    const dys = Float32Array.from({ length: 32 }, (_, i) => 100 + i);
    const out = await session.run({ x: new ort.Tensor('float32', xs, [4, 8]), [gm.seedInputs.get('y')!]: new ort.Tensor('float32', dys, [4, 8]) });
    const y = out.y!.data as Float32Array;
    const dx = out[gm.gradOutputs.get('x')!]!.data as Float32Array;
    let kept = 0;
    for (let i = 0; i < 32; i++) {
      const keep = y[i] !== 0;
      kept += Number(keep);
      expect(y[i]).toBeCloseTo(keep ? xs[i]! / 0.75 : 0, 4);
      expect(dx[i]).toBeCloseTo(keep ? dys[i]! / 0.75 : 0, 3);
    }
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(32);
  });
});
