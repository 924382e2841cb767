import { loadModelLazy, producersOf, initializersOf, toNumbers, type GraphProto, type TensorProto } from '../onnx/index.js';

/**
 * Rows of the model's word-embedding table: the 2-D initializer that a Gather indexes with
 * `input_ids` (through Cast/DequantizeLinear/Identity). Undefined when the graph hides it.
 * Used to check a tokenizer when the model has no config.json with vocab_size.
 */
export async function embeddingRows(modelPath: string): Promise<number | undefined> {
  // The graph and tensor shapes only: weights stay on disk.
  const model = await loadModelLazy(modelPath);
  return model.graph ? wordEmbeddingRows(model.graph) : undefined;
}

export function wordEmbeddingRows(graph: GraphProto): number | undefined {
  const table = wordEmbeddingTable(graph);
  return table ? toNumbers(table.dims)[0] : undefined;
}

/** The word-embedding table: the 2-D initializer a Gather indexes with `input_ids` (both through Cast/DequantizeLinear/Identity/...). */
export function wordEmbeddingTable(graph: GraphProto): TensorProto | undefined {
  const producers = producersOf(graph);
  const initializers = initializersOf(graph);
  const passThrough = new Set(['Cast', 'Identity', 'DequantizeLinear', 'Reshape', 'Flatten']);
  const source = (name: string): string => {
    let current = name;
    for (let hops = 0; hops < 8; hops++) {
      const node = producers.get(current);
      if (!node || !passThrough.has(node.opType ?? '') || !node.input?.[0]) return current;
      current = node.input[0];
    }
    return current;
  };
  const idsInput = (graph.input ?? []).find((i) => i.name === 'input_ids')?.name ?? 'input_ids';
  for (const node of graph.node ?? []) {
    if (node.opType !== 'Gather' || !node.input?.[0] || !node.input[1]) continue;
    if (source(node.input[1]) !== idsInput) continue;
    const table: TensorProto | undefined = initializers.get(source(node.input[0]));
    if (table && toNumbers(table.dims).length === 2) return table;
  }
  return undefined;
}
