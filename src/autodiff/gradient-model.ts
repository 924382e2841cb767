/**
 * A model that returns gradients: the forward graph plus, for each chosen output, a graph
 * input carrying d(loss)/d(output), and for each `wrt` value a graph output with its
 * gradient. It is what gradcheck runs, and the general-purpose entry point to the autodiff
 * when you bring your own loss (the trainer builds its loss and optimizer in-graph instead).
 */
import type * as ort from 'onnxruntime-node';
import { GraphBuilder, cloneForEditing, toNumber, type ModelProto } from '../onnx/index.js';
import { appendBackward } from './backward.js';
import { GradEmitter } from './emit.js';
import { prepareTrainingOpset } from './opset.js';
import { factsValueInfo, probeValueFacts, type FactTable } from './shapes.js';

export interface GradientModelOptions {
  /** Values to differentiate with respect to: graph inputs, initializers or intermediates. */
  wrt: readonly string[];
  /** Outputs the loss depends on (default: every graph output). */
  outputs?: readonly string[];
  label?: string;
  sampleFeeds?: (sizes: Map<string, number>, run: 0 | 1) => Record<string, ort.Tensor>;
}

export interface GradientModel {
  model: ModelProto;
  /** output -> graph input that receives d(loss)/d(output), same shape as the output. */
  seedInputs: Map<string, string>;
  /** wrt -> graph output holding d(loss)/d(wrt) (zeros when the outputs do not depend on it). */
  gradOutputs: Map<string, string>;
  facts: FactTable;
}

export async function buildGradientModel(source: ModelProto, opts: GradientModelOptions): Promise<GradientModel> {
  const model = cloneForEditing(source);
  prepareTrainingOpset(model, opts.label);
  const facts = await probeValueFacts(model, { sampleFeeds: opts.sampleFeeds, label: opts.label });
  const b = GraphBuilder.extend(model);
  const e = new GradEmitter(b, facts);
  const outputs = opts.outputs ?? (model.graph!.output ?? []).map((o) => o.name ?? '');
  const seedInputs = new Map<string, string>();
  for (const o of outputs) {
    const name = b.names.take(`grad_in.${o}`);
    b.graph.input!.push(factsValueInfo(name, e.fact(o), (i) => `${name}_d${i}`));
    e.setFact(name, e.fact(o));
    seedInputs.set(o, name);
  }
  const { grads } = appendBackward(e, { wrt: opts.wrt, seeds: seedInputs, label: opts.label });
  const gradOutputs = new Map<string, string>();
  for (const w of opts.wrt) {
    const name = b.names.take(`grad.${w}`);
    b.node('Identity', [grads.get(w) ?? e.zerosLike(w)], { outputs: [name], name: `grad/output/${w}` });
    b.graph.output!.push(factsValueInfo(name, e.fact(w), (i) => `${name}_d${i}`));
    gradOutputs.set(w, name);
  }
  return { model: b.build({ irVersion: Math.max(8, toNumber(model.irVersion)) }), seedInputs, gradOutputs, facts };
}
