import type { GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto } from './proto.js';
import { toNumber } from './longs.js';

/** Map from value name to the node that produces it. */
export function producersOf(graph: GraphProto): Map<string, NodeProto> {
  const m = new Map<string, NodeProto>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) if (o) m.set(o, n);
  return m;
}

/** Map from value name to the nodes that read it (in graph order). */
export function consumersOf(graph: GraphProto): Map<string, NodeProto[]> {
  const m = new Map<string, NodeProto[]>();
  for (const n of graph.node ?? []) {
    for (const i of n.input ?? []) {
      if (!i) continue;
      let list = m.get(i);
      if (!list) m.set(i, (list = []));
      if (!list.includes(n)) list.push(n);
    }
  }
  return m;
}

export function initializersOf(graph: GraphProto): Map<string, TensorProto> {
  return new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
}

/** The opset version the model imports for a domain ('' and 'ai.onnx' are the same), or undefined. */
export function opsetVersion(model: ModelProto, domain = ''): number | undefined {
  const norm = (d: string | null | undefined) => (d === 'ai.onnx' ? '' : (d ?? ''));
  const entry = (model.opsetImport ?? []).find((o) => norm(o.domain) === norm(domain));
  return entry ? toNumber(entry.version) : undefined;
}

/** Adds (or raises) an opset import. */
export function ensureOpset(model: ModelProto, domain: string, version: number): void {
  const imports = (model.opsetImport ??= []);
  const entry = imports.find((o) => (o.domain ?? '') === domain);
  if (!entry) imports.push(domain ? { domain, version } : { version });
  else if (toNumber(entry.version) < version) entry.version = version;
}

/**
 * Orders nodes so every input is produced before it is read (Kahn's algorithm, stable: nodes
 * keep their relative order where the data allows). Throws on a cycle.
 */
export function topologicalSort(graph: GraphProto): NodeProto[] {
  const nodes = graph.node ?? [];
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => o && producer.set(o, i)));
  const indegree = new Array<number>(nodes.length).fill(0);
  const dependents: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    const deps = new Set<number>();
    for (const name of nodeInputs(n)) {
      const p = producer.get(name);
      if (p !== undefined && p !== i) deps.add(p);
    }
    indegree[i] = deps.size;
    for (const d of deps) dependents[d]!.push(i);
  });
  // A min-heap would be O(n log n); graphs here have < 100k nodes and a sorted ready list is fine.
  const ready: number[] = [];
  indegree.forEach((d, i) => d === 0 && ready.push(i));
  const order: NodeProto[] = [];
  while (ready.length) {
    ready.sort((a, b) => a - b);
    const i = ready.shift()!;
    order.push(nodes[i]!);
    for (const j of dependents[i]!) if (--indegree[j]! === 0) ready.push(j);
  }
  if (order.length !== nodes.length) throw new Error('graph has a cycle');
  return order;
}

/** The graph inputs a caller feeds: initializers listed as inputs (IR < 4 exporters) are weights, not inputs. */
export function runtimeInputs(graph: GraphProto | null | undefined): ValueInfoProto[] {
  const initializers = new Set((graph?.initializer ?? []).map((t) => t.name ?? ''));
  return (graph?.input ?? []).filter((v) => !initializers.has(v.name ?? ''));
}

/** Inputs a node reads, including the outer-scope values its subgraphs (If/Loop/Scan) read. */
export function nodeInputs(node: NodeProto): string[] {
  const names = (node.input ?? []).filter((x) => x);
  for (const a of node.attribute ?? []) {
    for (const g of [a.g, ...(a.graphs ?? [])]) {
      if (!g) continue;
      const local = new Set<string>([
        ...(g.input ?? []).map((v) => v.name ?? ''),
        ...(g.initializer ?? []).map((t) => t.name ?? ''),
        ...(g.node ?? []).flatMap((n) => n.output ?? []),
      ]);
      for (const n of g.node ?? []) for (const i of nodeInputs(n)) if (!local.has(i)) names.push(i);
    }
  }
  return names;
}

/** Hands out names not yet used in a graph (values and nodes share one namespace here). */
export class NameAllocator {
  private readonly used = new Set<string>();
  constructor(graph?: GraphProto) {
    if (!graph) return;
    for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) this.used.add(v.name ?? '');
    for (const t of graph.initializer ?? []) this.used.add(t.name ?? '');
    for (const n of graph.node ?? []) {
      if (n.name) this.used.add(n.name);
      for (const o of n.output ?? []) this.used.add(o);
      for (const i of n.input ?? []) this.used.add(i);
    }
  }
  /** `base` if free, else `base_1`, `base_2`, ... */
  take(base: string): string {
    let name = base;
    for (let k = 1; this.used.has(name); k++) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }
  reserve(name: string): void {
    this.used.add(name);
  }
  has(name: string): boolean {
    return this.used.has(name);
  }
}

export function valueInfoMap(graph: GraphProto): Map<string, ValueInfoProto> {
  const m = new Map<string, ValueInfoProto>();
  for (const v of [...(graph.valueInfo ?? []), ...(graph.input ?? []), ...(graph.output ?? [])]) if (v.name) m.set(v.name, v);
  return m;
}

/** Shape of a value info: numbers for fixed dims, strings for symbolic ones, '?' when unknown. */
export function valueShape(v: ValueInfoProto | undefined): Array<number | string> | undefined {
  const shape = v?.type?.tensorType?.shape;
  if (!shape) return undefined;
  // Decoded messages carry oneof defaults on their prototype (dimValue reads 0 when dimParam
  // is set), so only own properties say which one is present.
  const has = (d: object, k: string) => Object.prototype.hasOwnProperty.call(d, k) && (d as Record<string, unknown>)[k] != null;
  return (shape.dim ?? []).map((d) => (has(d, 'dimParam') && d.dimParam ? d.dimParam : has(d, 'dimValue') ? toNumber(d.dimValue) : '?'));
}

export function valueElemType(v: ValueInfoProto | undefined): number | undefined {
  return v?.type?.tensorType?.elemType ?? undefined;
}

/** Removes nodes whose outputs nobody reads (not graph outputs), and initializers nobody reads. */
export function removeDeadNodes(graph: GraphProto): number {
  const keep = new Set<string>((graph.output ?? []).map((o) => o.name ?? ''));
  const nodes = graph.node ?? [];
  const alive: boolean[] = new Array(nodes.length).fill(false);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if ((n.output ?? []).some((o) => keep.has(o))) {
      alive[i] = true;
      for (const inp of nodeInputs(n)) keep.add(inp);
    }
  }
  const before = nodes.length;
  graph.node = nodes.filter((_, i) => alive[i]);
  graph.initializer = (graph.initializer ?? []).filter((t) => keep.has(t.name ?? ''));
  return before - graph.node.length;
}

/**
 * A copy of `model` whose graph lists and nodes can be edited without touching the original.
 * Tensors (and their raw bytes) are shared, not copied.
 */
export function cloneForEditing(model: ModelProto): ModelProto {
  const g = model.graph ?? {};
  return {
    ...model,
    opsetImport: (model.opsetImport ?? []).map((o) => ({ ...o })),
    graph: {
      ...g,
      node: (g.node ?? []).map((n) => ({ ...n, input: [...(n.input ?? [])], output: [...(n.output ?? [])] })),
      initializer: [...(g.initializer ?? [])],
      input: [...(g.input ?? [])],
      output: [...(g.output ?? [])],
      valueInfo: [...(g.valueInfo ?? [])],
    },
  };
}
