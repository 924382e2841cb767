import { createHash } from 'node:crypto';
import { Tokenizer as HfTokenizerImpl } from '@huggingface/tokenizers';
import { UserError } from '../errors.js';
import { TruncationStats, truncateLongestFirst, type Encoding, type Tokenizer } from './tokenizer.js';

/**
 * A Hugging Face `tokenizer.json` (any model: WordPiece, BPE, Unigram) run by
 * @huggingface/tokenizers. That library does not truncate, so we tokenize each text without
 * special tokens, truncate longest-first, then let the file's post-processor add the specials.
 */
export class HfTokenizer implements Tokenizer {
  readonly kind = 'tokenizer.json' as const;
  readonly vocabSize: number;
  readonly padId: number;
  readonly maxLength: number;
  readonly fingerprint: string;
  private readonly impl: HfTokenizerImpl;
  private readonly unkId: number;
  private readonly specialCount: { single: number; pair: number };
  private readonly stats: TruncationStats;

  constructor(
    readonly path: string,
    json: string,
    config: Record<string, unknown>,
    options: { maxLength?: number } = {},
  ) {
    let spec: Record<string, unknown>;
    try {
      spec = JSON.parse(json) as Record<string, unknown>;
      this.impl = new HfTokenizerImpl(spec, config);
    } catch (e) {
      throw new UserError(`${path}: cannot load tokenizer: ${(e as Error).message.split('\n')[0]}`);
    }
    const vocab = this.impl.get_vocab(true);
    let maxId = -1;
    for (const id of vocab.values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;
    const padding = spec.padding as { pad_id?: number } | null | undefined;
    const truncation = spec.truncation as { max_length?: number } | null | undefined;
    this.padId =
      padding?.pad_id ??
      ['[PAD]', '<pad>', '<|pad|>', '<unk>', '[UNK]'].map((t) => this.impl.token_to_id(t)).find((id) => id !== undefined) ??
      0;
    this.unkId = ['[UNK]', '<unk>'].map((t) => this.impl.token_to_id(t)).find((id) => id !== undefined) ?? 0;
    this.maxLength = options.maxLength ?? truncation?.max_length ?? 128;
    const post = (a: string[], b: string[] | null) => this.postProcess(a, b).tokens.length;
    this.specialCount = { single: post([], null), pair: post([], []) };
    if (this.maxLength <= this.specialCount.pair) throw new UserError(`max length ${this.maxLength} is too short for this tokenizer's special tokens`);
    this.stats = new TruncationStats(this.maxLength);
    this.fingerprint = createHash('sha1').update(json).update(JSON.stringify(['tokenizer.json', config, this.maxLength])).digest('hex');
  }

  get encodedCount(): number {
    return this.stats.encoded;
  }
  get truncatedCount(): number {
    return this.stats.truncated;
  }
  get truncationWarning(): string | undefined {
    return this.stats.warning;
  }

  encode(text: string, pair?: string): Encoding {
    const a = this.impl.tokenize(text, { add_special_tokens: false });
    const b = pair === undefined ? null : this.impl.tokenize(pair, { add_special_tokens: false });
    const cut = truncateLongestFirst(a, b ?? undefined, this.maxLength - (b ? this.specialCount.pair : this.specialCount.single));
    this.stats.encoded++;
    if (cut) this.stats.truncated++;
    const { tokens, typeIds } = this.postProcess(a, b);
    return { ids: tokens.map((t) => this.impl.token_to_id(t) ?? this.unkId), typeIds };
  }

  private postProcess(a: string[], b: string[] | null): { tokens: string[]; typeIds: number[] } {
    const post = this.impl.post_processor;
    if (!post) return { tokens: [...a, ...(b ?? [])], typeIds: [...a.map(() => 0), ...(b ?? []).map(() => 1)] };
    const out = post(a, b, true);
    if (out.token_type_ids) return { tokens: out.tokens, typeIds: out.token_type_ids };
    // Post-processors without segment ids (ByteLevel) hand the pair back unmerged.
    const second = out.tokens_pair ?? [];
    return { tokens: [...out.tokens, ...second], typeIds: [...out.tokens.map(() => 0), ...second.map(() => 1)] };
  }
}
