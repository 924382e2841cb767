import { DataType, GraphBuilder, makeTensor, type ModelProto } from '../onnx/index.js';
import { SeededRandom } from './random.js';

export interface ConvNetOptions {
  seed?: number;
  /** Default 13. Below 10 Resize is written as Upsample (opset 9 has no Resize). */
  opset?: number;
  /** Weights and BatchNorm parameters as Constant nodes instead of initializers (paddle2onnx's habit). */
  constantNodes?: boolean;
  /** Input height and width (default 32). */
  size?: number;
}

/** Conv / BatchNorm / activation blocks with He-initialized weights and BatchNorm statistics of a trained-looking net. */
class ConvBuilder {
  readonly b: GraphBuilder;
  private readonly rng: SeededRandom;
  constructor(
    name: string,
    private readonly o: ConvNetOptions,
  ) {
    this.b = new GraphBuilder({ name, opset: o.opset ?? 13 });
    this.rng = new SeededRandom(o.seed ?? 0);
  }

  tensor(base: string, data: Float32Array, dims: number[]): string {
    if (!this.o.constantNodes) return this.b.initializer(base, data, dims);
    const name = this.b.names.take(base);
    this.b.node('Constant', [], { outputs: [name], attrs: { value: makeTensor(name, data, dims, DataType.FLOAT) } });
    return name;
  }

  private fill(n: number, f: () => number): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = f();
    return a;
  }

  /** Conv (no bias) + BatchNorm; `group` = channels for depthwise. */
  convBn(x: string, cin: number, cout: number, k: number, stride: number, prefix: string, group = 1): string {
    const fanIn = (cin / group) * k * k;
    const std = Math.sqrt(2 / fanIn);
    const w = this.tensor(`${prefix}.weight`, this.fill(cout * (cin / group) * k * k, () => this.rng.normal() * std), [cout, cin / group, k, k]);
    const pad = (k - 1) / 2;
    const y = this.b.op('Conv', [x, w], { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad], group: group === 1 ? undefined : group });
    const gamma = this.tensor(`${prefix}.bn.weight`, this.fill(cout, () => 0.5 + this.rng.next()), [cout]);
    const beta = this.tensor(`${prefix}.bn.bias`, this.fill(cout, () => 0.2 * this.rng.normal()), [cout]);
    const mean = this.tensor(`${prefix}.bn.running_mean`, this.fill(cout, () => 0.1 * this.rng.normal()), [cout]);
    const variance = this.tensor(`${prefix}.bn.running_var`, this.fill(cout, () => 0.5 + this.rng.next()), [cout]);
    return this.b.op('BatchNormalization', [y, gamma, beta, mean, variance], { epsilon: { float: 1e-5 } });
  }

  relu(x: string): string {
    return this.b.op('Relu', [x]);
  }

  /** x * HardSigmoid(x): MobileNetV3's hard swish, as exporters decompose it. */
  hardSwish(x: string): string {
    return this.b.op('Mul', [x, this.b.op('HardSigmoid', [x], { alpha: { float: 1 / 6 }, beta: { float: 0.5 } })]);
  }

  /** 2x upsampling: Resize (nearest) from opset 10 on, Upsample before. */
  upsample2x(x: string): string {
    const opset = this.b.opset;
    const scales = this.tensor('upsample_scales', Float32Array.of(1, 1, 2, 2), [4]);
    if (opset < 10) return this.b.op('Upsample', [x, scales], { mode: 'nearest' });
    if (opset < 11) return this.b.op('Resize', [x, scales], { mode: 'nearest' });
    const roi = this.tensor('resize_roi', new Float32Array(0), [0]);
    return this.b.op('Resize', [x, roi, scales], { mode: 'nearest' });
  }

  dense(x: string, cin: number, cout: number, prefix: string, output: string): string {
    const std = Math.sqrt(1 / cin);
    const w = this.tensor(`${prefix}.weight`, this.fill(cout * cin, () => this.rng.normal() * std), [cout, cin]);
    const bias = this.tensor(`${prefix}.bias`, this.fill(cout, () => 0.1 * this.rng.normal()), [cout]);
    return this.b.node('Gemm', [x, w, bias], { attrs: { transB: 1 }, outputs: [output] })[0]!;
  }
}

/**
 * A small ResNet-style classifier ([N, 3, 32, 32] -> [N, 10] logits): Conv-BN-Relu stem and
 * MaxPool, three basic blocks (one downsampling with a 1x1 projection), residual Adds,
 * GlobalAveragePool, Flatten, Gemm. Fixture for static Conv quantization.
 */
export function buildResNetLike(o: ConvNetOptions = {}): ModelProto {
  const c = new ConvBuilder('resnet_like', o);
  const b = c.b;
  const size = o.size ?? 32;
  const x = b.input('pixel_values', DataType.FLOAT, ['batch', 3, size, size]);
  let h = b.op('MaxPool', [c.relu(c.convBn(x, 3, 32, 3, 1, 'stem'))], { kernel_shape: [2, 2], strides: [2, 2] });
  const block = (inp: string, cin: number, cout: number, stride: number, prefix: string) => {
    const y = c.convBn(c.relu(c.convBn(inp, cin, cout, 3, stride, `${prefix}.conv1`)), cout, cout, 3, 1, `${prefix}.conv2`);
    const skip = stride === 1 && cin === cout ? inp : c.convBn(inp, cin, cout, 1, stride, `${prefix}.downsample`);
    return c.relu(b.op('Add', [y, skip]));
  };
  h = block(h, 32, 32, 1, 'layer1');
  h = block(h, 32, 64, 2, 'layer2');
  h = block(h, 64, 64, 1, 'layer3');
  const pooled = b.op('Flatten', [b.op('GlobalAveragePool', [h])], { axis: 1 });
  c.dense(pooled, 64, 10, 'fc', 'logits');
  b.output('logits', DataType.FLOAT, ['batch', 10]);
  return b.build();
}

/**
 * A MobileNetV3/DB-style text-detector net ([N, 3, 32, 32] -> [N, 1, 16, 16] probability map):
 * hard-swish stem, depthwise-separable blocks (depthwise Conv with group = channels), BatchNorm
 * everywhere, a downsampling stage upsampled back with Resize and concatenated with the skip
 * feature, and a HardSigmoid head. Fixture for static Conv quantization of paddle2onnx-like graphs.
 */
export function buildMobileNetLike(o: ConvNetOptions = {}): ModelProto {
  const c = new ConvBuilder('mobilenet_like', o);
  const b = c.b;
  const size = o.size ?? 32;
  const x = b.input('pixel_values', DataType.FLOAT, ['batch', 3, size, size]);
  const stem = c.hardSwish(c.convBn(x, 3, 32, 3, 2, 'stem'));
  const expand = c.relu(c.convBn(stem, 32, 128, 1, 1, 'block1.expand'));
  const dw = c.relu(c.convBn(expand, 128, 128, 3, 1, 'block1.depthwise', 128));
  const skip = c.convBn(dw, 128, 64, 1, 1, 'block1.project');
  const down = c.hardSwish(c.convBn(skip, 64, 128, 3, 2, 'block2.expand'));
  const dw2 = c.relu(c.convBn(down, 128, 128, 3, 1, 'block2.depthwise', 128));
  const proj2 = c.convBn(dw2, 128, 64, 1, 1, 'block2.project');
  const up = c.upsample2x(proj2);
  const fused = b.op('Concat', [up, skip], { axis: 1 });
  const neck = c.relu(c.convBn(fused, 128, 32, 1, 1, 'neck'));
  const std = Math.sqrt(1 / 32);
  const headW = c.tensor('head.weight', Float32Array.from({ length: 32 }, (_, i) => Math.sin(i * 1.7) * std), [1, 32, 1, 1]);
  const logits = b.op('Conv', [neck, headW], { kernel_shape: [1, 1] });
  b.node('HardSigmoid', [logits], { attrs: { alpha: { float: 0.2 }, beta: { float: 0.5 } }, outputs: ['probability_map'] });
  b.output('probability_map', DataType.FLOAT, ['batch', 1, size / 2, size / 2]);
  return b.build();
}
