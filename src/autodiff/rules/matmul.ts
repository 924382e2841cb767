import type { StaticDim } from '../shapes.js';
import { broadcastDims } from '../emit.js';
import type { GradientRule } from '../registry.js';

const swapLast = (r: number) => [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2];

/**
 * y = a @ b with numpy semantics (batch dims broadcast, 1-D operands promoted):
 * da = dy @ b^T, db = a^T @ dy, each summed over broadcast batch dims. The common case of a
 * 2-D weight b and activations a [..., K] gets db as one Gemm over the flattened rows
 * (a reshaped to [-1, K], transA), not a batched MatMul followed by a ReduceSum.
 */
export const matMulGrad: GradientRule = (ctx) => {
  const { e } = ctx;
  const [a, b] = [ctx.input(0), ctx.input(1)];
  const dy = ctx.dy()!;
  const A = e.dims(a);
  const B = e.dims(b);
  if (A.length === 1 && B.length === 1) {
    if (ctx.needs(0)) ctx.grad(0, e.op('Mul', [dy, b]));
    if (ctx.needs(1)) ctx.grad(1, e.op('Mul', [dy, a]));
    return;
  }
  // Promote 1-D operands as MatMul does: a [K] -> [1, K], b [K] -> [K, 1]; dy gets the dims back.
  const A2: StaticDim[] = A.length === 1 ? [1, ...A] : A;
  const B2: StaticDim[] = B.length === 1 ? [...B, 1] : B;
  let dy2 = dy;
  if (A.length === 1) dy2 = e.op('Unsqueeze', [dy2, e.ints([-2])]);
  if (B.length === 1) dy2 = e.op('Unsqueeze', [dy2, e.ints([-1])]);
  const a2 = () => (A.length === 1 ? e.op('Unsqueeze', [a, e.ints([0])]) : a);
  const b2 = () => (B.length === 1 ? e.op('Unsqueeze', [b, e.ints([1])]) : b);
  const batch = broadcastDims(A2.slice(0, -2), B2.slice(0, -2));
  const [M, K] = A2.slice(-2) as [StaticDim, StaticDim];
  const N = B2[B2.length - 1]!;

  if (ctx.needs(0)) {
    const bT = e.op('Transpose', [b2()], { perm: swapLast(B2.length) });
    let g = e.op('MatMul', [dy2, bT]);
    if (B2.length > 2) g = e.sumToShape(g, [...batch, M, K], A2);
    if (A.length === 1) g = e.op('Reshape', [g, e.shapeOf(a)]);
    ctx.grad(0, g);
  }
  if (ctx.needs(1)) {
    let g: string;
    if (B2.length === 2 && K !== '?' && N !== '?') {
      const rows = e.op('Reshape', [a2(), e.ints([-1, K])]);
      g = e.op('Gemm', [rows, e.op('Reshape', [dy2, e.ints([-1, N])])], { transA: 1 });
    } else {
      const aT = e.op('Transpose', [a2()], { perm: swapLast(A2.length) });
      g = e.sumToShape(e.op('MatMul', [aT, dy2]), [...batch, K, N], B2);
    }
    if (B.length === 1) g = e.op('Reshape', [g, e.shapeOf(b)]);
    ctx.grad(1, g);
  }
};
