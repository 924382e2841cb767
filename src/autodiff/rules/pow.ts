import type { GradientRule } from '../registry.js';

/**
 * y = a ^ b: da = dy * b * a^(b-1), db = dy * y * ln(a). A constant exponent (LayerNorm's
 * decomposed variance uses 2) is folded: for b = 2, da = dy * 2a with no Pow at all. The
 * exponent may have another element type than the base (allowed since opset 12); it is cast.
 */
export const powGrad: GradientRule = (ctx) => {
  const { e } = ctx;
  const dy = ctx.dy()!;
  const y = ctx.output(0);
  const yDims = e.dims(y);
  const [a, b] = [ctx.input(0), ctx.input(1)];
  if (ctx.needs(0)) {
    const k = e.constNumbers(b);
    let local: string | undefined;
    if (k && k.length === 1) {
      const p = k[0]!;
      if (p === 2) local = e.op('Mul', [a, e.scalar(2, a)]);
      else if (p !== 1) local = e.op('Mul', [e.op('Pow', [a, e.scalar(p - 1, a)]), e.scalar(p, a)]);
    } else {
      const bb = e.elemType(b) === e.elemType(a) ? b : e.op('Cast', [b], { to: e.elemType(a) });
      local = e.op('Mul', [bb, e.op('Pow', [a, e.op('Sub', [bb, e.scalar(1, a)])])]);
    }
    ctx.grad(0, e.sumToShape(local ? e.op('Mul', [dy, local]) : dy, yDims, e.dims(a)));
  }
  if (ctx.needs(1)) {
    let g = e.op('Mul', [dy, e.op('Mul', [y, e.op('Log', [a])])]);
    if (e.elemType(b) !== e.elemType(y)) g = e.op('Cast', [g], { to: e.elemType(b) });
    ctx.grad(1, e.sumToShape(g, yDims, e.dims(b)));
  }
};
