/**
 * Server-rendered pages from views/*.eta, for palmid's own routes and oidc-provider's pages alike;
 * Eta escapes every `<%= %>` value.
 */
import path from 'node:path';
import { Eta } from 'eta';
import { packageRoot } from './paths.js';

export const viewsDir = path.join(packageRoot, 'views');

const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true });

export function renderView(name: string, data: Record<string, unknown>): string {
  return eta.render(`./${name}`, data);
}
