import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder holding palmid's package.json, whether the code runs from src/ (tests, tsx) or from
 * the compiled dist/src/: views/, models/ and prisma/migrations/ are found relative to it.
 */
function findPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'prisma'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the palmid package folder');
    dir = parent;
  }
}

export const packageRoot = findPackageRoot();
