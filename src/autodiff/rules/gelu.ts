import { attrString } from '../../onnx/index.js';
import type { GradientRule } from '../registry.js';

/**
 * Gelu (ai.onnx opset 20, `approximate` none|tanh) and com.microsoft Gelu (exact erf form).
 * exact: d/dx [x Phi(x)] = Phi(x) + x phi(x), Phi(x) = (1 + erf(x/sqrt2))/2, phi the normal pdf.
 * tanh:  y = x/2 (1 + t), t = tanh(k (x + c x^3)), k = sqrt(2/pi), c = 0.044715;
 *        dy/dx = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3c x^2).
 */
export const geluGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const { e } = ctx;
  const x = ctx.input(0);
  const s = (v: number) => e.scalar(v, x);
  const xx = e.op('Mul', [x, x]);
  let local: string;
  if ((attrString(ctx.node, 'approximate') ?? 'none') === 'tanh') {
    const k = Math.sqrt(2 / Math.PI);
    const c = 0.044715;
    const t = e.op('Tanh', [e.op('Mul', [e.op('Mul', [x, e.op('Add', [s(1), e.op('Mul', [xx, s(c)])])]), s(k)])]);
    const left = e.op('Mul', [e.op('Add', [s(1), t]), s(0.5)]);
    const sech2 = e.op('Sub', [s(1), e.op('Mul', [t, t])]);
    const inner = e.op('Mul', [e.op('Add', [s(1), e.op('Mul', [xx, s(3 * c)])]), s(0.5 * k)]);
    local = e.op('Add', [left, e.op('Mul', [e.op('Mul', [x, sech2]), inner])]);
  } else {
    const cdf = e.op('Mul', [e.op('Add', [e.op('Erf', [e.op('Mul', [x, s(Math.SQRT1_2)])]), s(1)]), s(0.5)]);
    const pdf = e.op('Mul', [e.op('Exp', [e.op('Mul', [xx, s(-0.5)])]), s(1 / Math.sqrt(2 * Math.PI))]);
    local = e.op('Add', [cdf, e.op('Mul', [x, pdf])]);
  }
  ctx.grad(0, e.op('Mul', [ctx.dy()!, local]));
};
