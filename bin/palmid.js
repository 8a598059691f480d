#!/usr/bin/env node
// The palmid command. Runs the compiled code in dist/ (built by `npm install` / `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('palmid: not built yet; run `npm run build` in the palmid folder\n');
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(process.argv);
// `serve` keeps running; every other command ends here.
if (process.argv[2] !== 'serve' || code !== 0) process.exit(code);
