#!/usr/bin/env node
// Launcher only: the CLI lives in src/cli (compiled to dist/ by `npm run build`).
import { main } from '../dist/src/cli/main.js';

main(process.argv).then((code) => {
  process.exitCode = code;
});
