import { attrFloat, attrInt } from '../../onnx/index.js';
import type { GradientRule } from '../registry.js';

/**
 * y = alpha * A' B' + beta * C with A' = transA ? A^T : A, B' likewise. Each gradient is one
 * Gemm with the transposes folded into its flags:
 *   dA = alpha dy B'^T (transposed back when transA), dB = alpha A'^T dy (likewise),
 *   dC = beta dy summed to C's broadcast shape.
 */
export const gemmGrad: GradientRule = (ctx) => {
  const { e, node } = ctx;
  const [a, b, c] = [ctx.input(0), ctx.input(1), ctx.input(2)];
  const dy = ctx.dy()!;
  const alpha = attrFloat(node, 'alpha', 1);
  const beta = attrFloat(node, 'beta', 1);
  const tA = attrInt(node, 'transA', 0) !== 0;
  const tB = attrInt(node, 'transB', 0) !== 0;
  const gemm = (x: string, y: string, transA: boolean, transB: boolean) =>
    e.op('Gemm', [x, y], {
      alpha: alpha === 1 ? undefined : { float: alpha },
      transA: transA ? 1 : undefined,
      transB: transB ? 1 : undefined,
    });
  if (ctx.needs(0)) ctx.grad(0, tA ? gemm(b, dy, tB, true) : gemm(dy, b, false, !tB));
  if (ctx.needs(1)) ctx.grad(1, tB ? gemm(dy, a, true, tA) : gemm(a, dy, !tA, false));
  if (c && ctx.needs(2)) {
    const scaled = beta === 1 ? dy : e.op('Mul', [dy, e.scalar(beta, ctx.output(0))]);
    ctx.grad(2, e.sumToShape(scaled, e.dims(ctx.output(0)), e.dims(c)));
  }
};
