/** Files the CLI reads for a command (images, CSV): checked before they are read, within a size. */
import fs from 'node:fs';
import { UserError } from './output.js';

/** The file's bytes, or a UserError naming it: missing, not a file, or over `maxBytes` (`advice` said after). */
export function readBoundedFile(file: string, maxBytes: number, advice = ''): Buffer {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new UserError(`cannot read ${file}`);
  }
  if (!stat.isFile()) throw new UserError(`${file} is not a file`);
  if (stat.size > maxBytes) throw new UserError(`${file} is larger than ${maxBytes} bytes${advice}`);
  return fs.readFileSync(file);
}
