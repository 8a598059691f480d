import path from 'node:path';
import { packageRoot } from '../paths.js';
import { Eta } from 'eta';

/** Server-rendered pages from views/*.eta; Eta escapes every `<%= %>` value. */
export const viewsDir = path.join(packageRoot, 'views');

const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true });

export function renderView(name: string, data: Record<string, unknown>): string {
  return eta.render(`./${name}`, data);
}
