import { randomUUID } from 'node:crypto';
import { audit } from '../audit/audit.js';
import { findPersonById } from '../accounts/people.js';
import { findTenant, hasActiveConsent } from '../accounts/tenants.js';
import {
  ENROL_MIN_QUALITY,
  PalmImageError,
  bestMatch,
  deserializeTemplate,
  extractProbe,
  fuse,
  serializeTemplate,
  type ImageKind,
  type Probe,
} from '../palm/index.js';
import { BiometricError, type BiometricContext } from './context.js';
import { openTemplate, sealTemplate } from './dataKeys.js';
import { findReferenceId, saveReference, searchReferences } from './references.js';
import { thresholdForFmr } from './threshold.js';

export const DEFAULT_CAPTURES = 3;

export interface EnrolInput {
  personId: string;
  tenantId: string;
  hand: 'left' | 'right';
  /** Image bytes; held in memory only for this call. */
  captures: Uint8Array[];
  kind?: ImageKind;
  minCaptures?: number;
}

export interface EnrolResult {
  referenceId: string;
  hand: 'left' | 'right';
  samples: number;
  quality: number;
  replaced: boolean;
}

/**
 * Enrols one palm: consent checked first, every capture through the quality gate, captures
 * fused into one reference, a 1:N check that the palm is not someone else's, then the reference
 * stored protected (the tenant's keyed code of the embedding, sealed fine template).
 */
export async function enrolPalm(ctx: BiometricContext, input: EnrolInput): Promise<EnrolResult> {
  const tenant = await findTenant(ctx.db, input.tenantId);
  if (!tenant) throw new BiometricError('unknown_tenant', `unknown tenant ${input.tenantId}`);
  if (!(await findPersonById(ctx.db, input.personId))) {
    throw new BiometricError('unknown_person', 'no such person');
  }
  // Consent comes before any capture is processed.
  if (!(await hasActiveConsent(ctx.db, input.personId, input.tenantId))) {
    throw new BiometricError('consent_required', `the person has not consented to ${tenant.name}'s biometric notice`);
  }
  const minCaptures = input.minCaptures ?? DEFAULT_CAPTURES;
  if (input.captures.length < minCaptures) {
    throw new BiometricError(
      'not_enough_captures',
      `enrolment needs ${minCaptures} captures of the palm, got ${input.captures.length}`,
    );
  }

  // Each capture as a probe too: the duplicate check below matches the captures as identification would.
  const probes: Probe[] = [];
  for (const [index, bytes] of input.captures.entries()) {
    try {
      const { probe } = await extractProbe(bytes, { kind: input.kind ?? 'auto', minQuality: ENROL_MIN_QUALITY });
      probes.push(probe);
    } catch (err) {
      if (err instanceof PalmImageError) {
        throw new BiometricError('capture_rejected', `capture ${index + 1}: ${err.message}`, {
          capture: index + 1,
          imageReason: err.reason,
        });
      }
      throw err;
    }
  }
  const reference = fuse(probes.map((p) => p.template));
  const searchable = ctx.protect(tenant, reference.embedding);

  // A palm enrolled to another person at this tenant is refused.
  const candidates = await searchReferences(ctx.db, {
    tenant,
    probe: searchable,
    model: reference.model,
    dimensions: reference.embedding.length,
    limit: 20,
    consentedOnly: false,
    excludePersonId: input.personId,
  });
  const threshold = thresholdForFmr(
    tenant.targetFmr,
    await ctx.gallerySize(tenant.id, tenant.keyVersion, reference.model),
  );
  const others = candidates
    .filter((c) => c.wrappedKey && c.model === reference.model) // an erased person has nothing readable left
    .map((c) =>
      deserializeTemplate(
        new Uint8Array(openTemplate(ctx.dataKeys.unwrap(c.personId, c.wrappedKey!), c.sealedTemplate, c.id)),
      ),
    );
  // Any capture that identification would accept as another person makes this a duplicate.
  for (const probe of probes) {
    if ((await bestMatch(probe, others, threshold)).score >= threshold) {
      await audit(ctx.db, {
        action: 'palm.duplicate_refused',
        actor: input.personId,
        subject: tenant.id,
        detail: { hand: input.hand },
      });
      throw new BiometricError('duplicate_enrolment', 'this palm is already enrolled to another person');
    }
  }

  const existing = await findReferenceId(ctx.db, { personId: input.personId, tenantId: tenant.id, hand: input.hand });
  const referenceId = randomUUID();
  const dataKey = await ctx.dataKeys.getOrCreate(input.personId);
  // The sealed fine template carries the embedding, so that a new key version can protect it
  // again (lifecycle.ts, rekeyTenant): the protected form cannot be turned back into it.
  const fine = serializeTemplate(reference);
  await saveReference(ctx.db, {
    id: referenceId,
    personId: input.personId,
    tenantId: tenant.id,
    hand: input.hand,
    model: reference.model,
    keyVersion: tenant.keyVersion,
    searchable,
    sealedTemplate: new Uint8Array(sealTemplate(dataKey, fine, referenceId)),
    samples: reference.samples,
    quality: reference.quality,
  });
  if (!existing) ctx.forgetGallerySizes(); // N grew: the next decision counts again
  await audit(ctx.db, {
    action: existing ? 'palm.reenrolled' : 'palm.enrolled',
    actor: input.personId,
    subject: tenant.id,
    detail: { hand: input.hand, samples: reference.samples },
  });
  return {
    referenceId,
    hand: input.hand,
    samples: reference.samples,
    quality: reference.quality,
    replaced: Boolean(existing),
  };
}
