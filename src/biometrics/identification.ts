import { performance } from 'node:perf_hooks';
import {
  PalmImageError,
  bestMatch,
  deserializeTemplate,
  extractProbe,
  type ImageKind,
  type Probe,
} from '../palm/index.js';
import { identifyingTenant, type IdentifyingTenant } from '../accounts/tenants.js';
import { BiometricError, type BiometricContext } from './context.js';
import { openTemplate } from './dataKeys.js';
import { searchReferences, touchReference } from './references.js';
import { thresholdForFmr } from './threshold.js';

export interface IdentifyInput {
  tenantId: string;
  capture: Uint8Array;
  kind?: ImageKind;
  /** Stage-one candidates passed to the fine matcher. */
  candidates?: number;
}

export interface IdentifyResult {
  match: boolean;
  personId: string | null;
  hand: 'left' | 'right' | null;
  /** Best fine similarity among the candidates (0 when there were none). */
  score: number;
  threshold: number;
  candidates: number;
  /** `match` includes making the probe's turned and zoomed variants when they are needed. */
  ms: { extract: number; search: number; match: number; total: number };
}

/**
 * 1:N identification at a tenant: quality gate, protected search (references.ts) over the people
 * who consented to the tenant, fine matching of the top candidates, decision at the tenant's threshold.
 * Open set: a palm nobody enrolled comes back as no match.
 */
export async function identifyPalm(ctx: BiometricContext, input: IdentifyInput): Promise<IdentifyResult> {
  const t0 = performance.now();
  const tenant = await identifyingTenant(ctx.db, input.tenantId);
  if (!tenant) throw new BiometricError('unknown_tenant', `unknown tenant ${input.tenantId}`);

  let probe: Probe;
  try {
    probe = (await extractProbe(input.capture, { kind: input.kind ?? 'auto' })).probe;
  } catch (err) {
    if (err instanceof PalmImageError)
      throw new BiometricError('capture_rejected', err.message, { imageReason: err.reason });
    throw err;
  }
  const t1 = performance.now();
  const result = await identifyProbe(ctx, tenant, probe, input.candidates);
  return {
    ...result,
    ms: {
      ...result.ms,
      extract: Math.round((t1 - t0) * 10) / 10,
      total: Math.round((performance.now() - t0) * 10) / 10,
    },
  };
}

/** Stages after extraction: protected search, fine matching, decision. */
export async function identifyProbe(
  ctx: BiometricContext,
  tenant: IdentifyingTenant,
  probe: Probe,
  candidateCount = 20,
): Promise<IdentifyResult> {
  const t1 = performance.now();
  const upright = probe.template;
  const candidates = await searchReferences(ctx.db, {
    tenant,
    probe: ctx.protect(tenant, upright.embedding),
    model: upright.model,
    dimensions: upright.embedding.length,
    limit: candidateCount,
    consentedOnly: true,
  });
  const t2 = performance.now();

  // The target is per search: a stranger is compared, in effect, with every reference of the tenant.
  const threshold = thresholdForFmr(
    tenant.targetFmr,
    await ctx.gallerySize(tenant.id, tenant.keyVersion, upright.model),
  );
  // An erased person has nothing readable left.
  const readable = candidates.filter((c) => c.wrappedKey && c.model === upright.model);
  const references = readable.map((c) =>
    deserializeTemplate(
      new Uint8Array(openTemplate(ctx.dataKeys.unwrap(c.personId, c.wrappedKey!), c.sealedTemplate, c.id)),
    ),
  );
  const found = await bestMatch(probe, references, threshold);
  const winner = readable[found.index];
  const best = {
    score: found.score,
    personId: winner?.personId ?? null,
    hand: winner?.hand ?? null,
    id: winner?.id ?? '',
  };
  const match = best.personId !== null && best.score >= threshold;
  if (match) await touchReference(ctx.db, best.id);
  const t3 = performance.now();
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    match,
    personId: match ? best.personId : null,
    hand: match ? best.hand : null,
    score: best.score,
    threshold,
    candidates: candidates.length,
    ms: { extract: 0, search: round(t2 - t1), match: round(t3 - t2), total: round(t3 - t1) },
  };
}
