import type { GraphProto, ModelProto } from './proto.js';
import { toNumber } from './longs.js';
import { nodeInputs } from './graph.js';

/**
 * The structural rules of the ONNX checker that need no operator schemas: IR version and
 * opset imports present, every node's domain imported, graph in topological order, SSA
 * (each value produced once, no clash with inputs/initializers), every input defined,
 * every graph output produced, unique node names.
 */
export function checkModel(model: ModelProto): string[] {
  const problems: string[] = [];
  if (toNumber(model.irVersion) <= 0) problems.push('ir_version is not set');
  const imported = new Set<string>();
  for (const o of model.opsetImport ?? []) {
    const d = o.domain === 'ai.onnx' ? '' : (o.domain ?? '');
    if (imported.has(d)) problems.push(`opset for domain "${d}" imported twice`);
    imported.add(d);
    if (toNumber(o.version) <= 0) problems.push(`opset for domain "${d}" has no version`);
  }
  if (!imported.has('')) problems.push('no opset import for the default ONNX domain');
  if (!model.graph) return [...problems, 'model has no graph'];
  checkGraph(model.graph, imported, new Set(), problems, 'graph');
  return problems;
}

function checkGraph(g: GraphProto, domains: Set<string>, outer: Set<string>, problems: string[], where: string): void {
  const defined = new Set<string>(outer);
  const mine = new Set<string>();
  const define = (name: string, what: string) => {
    if (!name) return;
    if (mine.has(name)) problems.push(`${where}: value "${name}" is defined more than once (${what})`);
    mine.add(name);
    defined.add(name);
  };
  for (const v of g.input ?? []) define(v.name ?? '', 'graph input');
  for (const t of g.initializer ?? []) {
    // An initializer may share its name with a graph input (it is then the input's default).
    if (!(g.input ?? []).some((v) => v.name === t.name)) define(t.name ?? '', 'initializer');
  }
  const nodeNames = new Set<string>();
  (g.node ?? []).forEach((n, idx) => {
    const label = `${where}: node ${n.name || `#${idx}`} (${n.opType})`;
    if (!n.opType) problems.push(`${label}: no op_type`);
    const d = n.domain === 'ai.onnx' ? '' : (n.domain ?? '');
    if (!domains.has(d)) problems.push(`${label}: domain "${d}" is not in opset_import`);
    if (n.name) {
      if (nodeNames.has(n.name)) problems.push(`${label}: node name is not unique`);
      nodeNames.add(n.name);
    }
    for (const i of nodeInputs(n)) {
      if (!defined.has(i)) problems.push(`${label}: input "${i}" is not defined before this node (not topologically sorted, or undeclared)`);
    }
    for (const a of n.attribute ?? []) {
      for (const sg of [a.g, ...(a.graphs ?? [])]) if (sg) checkGraph(sg, domains, defined, problems, `${label} subgraph ${a.name}`);
    }
    for (const o of n.output ?? []) define(o, `output of ${n.name || n.opType}`);
  });
  for (const o of g.output ?? []) {
    if (!defined.has(o.name ?? '')) problems.push(`${where}: graph output "${o.name}" is never produced`);
  }
}

/**
 * Node inputs that nothing in the graph produces (no graph input, initializer or node output),
 * in node order: a corrupt or hand-edited graph. Order does not matter here (see checkModel).
 */
export function undefinedInputs(g: GraphProto): Array<{ node: string; input: string }> {
  const produced = new Set<string>([
    ...(g.input ?? []).map((v) => v.name ?? ''),
    ...(g.initializer ?? []).map((t) => t.name ?? ''),
    ...(g.node ?? []).flatMap((n) => n.output ?? []),
  ]);
  const out: Array<{ node: string; input: string }> = [];
  (g.node ?? []).forEach((n, idx) => {
    for (const i of nodeInputs(n)) if (!produced.has(i)) out.push({ node: `${n.name || `#${idx}`} (${n.opType})`, input: i });
  });
  return out;
}

export function assertValidModel(model: ModelProto, label = 'model'): void {
  const problems = checkModel(model);
  if (problems.length) throw new Error(`${label} is not valid ONNX:\n  ${problems.slice(0, 20).join('\n  ')}`);
}
