import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';

/** Server-rendered pages from views/*.eta; Eta escapes every `<%= %>` value. */
const here = path.dirname(fileURLToPath(import.meta.url));
export const viewsDir = path.resolve(here, here.includes(`${path.sep}dist${path.sep}`) ? '../../../views' : '../../views');

const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true });

export function renderView(name: string, data: Record<string, unknown>): string {
  return eta.render(`./${name}`, data);
}
