import type { Database } from '../db/database.js';
import type { TenantKeying } from './context.js';
import { bitLiteral, PROTECTED_CODE_BITS } from './protection.js';

/**
 * The palm_reference table and its pgvector search. A reference is searchable by one protected
 * form (see protection.ts): the keyed bit code (column `code`, tenants on 'projection') or, for
 * references stored before it, the keyed transform of the embedding (column `embedding`, tenants
 * on 'transform'). The fine template is stored only sealed.
 */
export type Searchable = { code: Uint8Array } | { embedding: Float32Array };

export interface StoredReference {
  id: string;
  personId: string;
  tenantId: string;
  hand: 'left' | 'right';
  model: string;
  keyVersion: number;
  searchable: Searchable;
  sealedTemplate: Uint8Array;
  samples: number;
  quality: number;
}

export interface Candidate {
  id: string;
  personId: string;
  hand: 'left' | 'right';
  model: string;
  sealedTemplate: Uint8Array;
  /** The person's wrapped data key (null once erased), fetched with the candidate. */
  wrappedKey: Uint8Array | null;
  /** Stage one's distance: Hamming distance as a fraction of the code's bits, or cosine distance (transform). */
  distance: number;
}

export function vectorLiteral(v: Float32Array): string {
  return `[${Array.from(v, (x) => (Number.isFinite(x) ? x : 0).toPrecision(7)).join(',')}]`;
}

function parseVector(text: string): Float32Array {
  return Float32Array.from(text.slice(1, -1).split(','), Number);
}

/** Replaces the person's reference for this tenant and hand (re-enrolment). */
export async function saveReference(db: Database, ref: StoredReference): Promise<void> {
  await db.prisma.$transaction(async (tx) => {
    await tx.$executeRawUnsafe(
      `DELETE FROM palm_reference WHERE person_id = $1 AND tenant_id = $2 AND hand = $3`,
      ref.personId,
      ref.tenantId,
      ref.hand,
    );
    await tx.$executeRawUnsafe(
      `INSERT INTO palm_reference (id, person_id, tenant_id, hand, model, key_version, embedding, code, fine_template, samples, quality)
       VALUES ($1, $2, $3, $4, $5, $6, $7::vector, $8::bit(${PROTECTED_CODE_BITS}), $9, $10, $11)`,
      ref.id,
      ref.personId,
      ref.tenantId,
      ref.hand,
      ref.model,
      ref.keyVersion,
      'embedding' in ref.searchable ? vectorLiteral(ref.searchable.embedding) : null,
      'code' in ref.searchable ? bitLiteral(ref.searchable.code) : null,
      ref.sealedTemplate,
      ref.samples,
      ref.quality,
    );
  });
}

/**
 * Embeddings of different models are not comparable and need not have the same length, so the
 * column takes any length and each model has its own partial HNSW index over its own rows. The
 * index is coarse: it covers only the embedding's leading COARSE_DIMENSIONS values (the most
 * discriminative, in LDA order), which the tenant transform keeps apart (protection.ts), and
 * stage one re-ranks its shortlist by the full vector: a graph of 32-value nodes is a quarter of
 * the distance work and much smaller than one of 128, and the leading 32 lose nothing that the
 * re-ranking needs (bench figures in the migration 20261129000000_coarse_embedding_index). A new model
 * ships a migration that creates its index (text from embeddingIndexSql); references made by an
 * older model are left alone, found by no search, until the person enrols again.
 */
export interface EmbeddingModel {
  /** `name@version`, as templates carry it */
  model: string;
  dimensions: number;
}

/** The leading dimensions the coarse index covers and tenant transforms keep apart. */
export const COARSE_DIMENSIONS = 32;

/** Whether a tenant's protected vectors can be searched through the coarse index (its transform keeps the prefix apart). */
export function onCoarseIndex(transformSplit: number | null): boolean {
  return transformSplit === COARSE_DIMENSIONS;
}

function modelLiteral(m: EmbeddingModel): string {
  // Written into SQL (a partial index is only used when the query names its predicate's value).
  if (
    !/^[\w.@-]{1,100}$/.test(m.model) ||
    !Number.isInteger(m.dimensions) ||
    m.dimensions <= COARSE_DIMENSIONS ||
    m.dimensions > 2000
  )
    throw new Error(`not a model name pgvector can index: ${m.model} (${m.dimensions})`);
  return `'${m.model}'`;
}

export function embeddingIndexName(m: EmbeddingModel): string {
  return `palm_reference_coarse_${m.model.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}`;
}

/** The indexed expression: the leading dimensions of a vector (a column, or a parameter as `$1::vector`). */
export const coarse = (column: string) =>
  `(subvector(${column}, 1, ${COARSE_DIMENSIONS})::vector(${COARSE_DIMENSIONS}))`;

/** The shipped build parameters are m 32, ef_construction 200 (see the migration); benchmarks may try others. */
export function embeddingIndexSql(
  m: EmbeddingModel,
  hnsw: { m: number; efConstruction: number } = { m: 32, efConstruction: 200 },
): string {
  if (![hnsw.m, hnsw.efConstruction].every((v) => Number.isInteger(v) && v >= 2 && v <= 1000))
    throw new Error('HNSW parameters must be integers from 2 to 1000');
  return `CREATE INDEX "${embeddingIndexName(m)}" ON "palm_reference" USING hnsw (${coarse('"embedding"')} vector_cosine_ops) WITH (m = ${hnsw.m}, ef_construction = ${hnsw.efConstruction}) WHERE "model" = ${modelLiteral(m)}`;
}

export function codeIndexName(m: EmbeddingModel): string {
  return `palm_reference_code_${m.model.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}`;
}

/**
 * The index of the codes: HNSW by Hamming distance over all PROTECTED_CODE_BITS bits (codes
 * are not ordered by importance, so there is no prefix to index). A new model ships a migration
 * with this text; the shipped build parameters are m 32, ef_construction 200.
 */
export function codeIndexSql(
  m: EmbeddingModel,
  hnsw: { m: number; efConstruction: number } = { m: 32, efConstruction: 200 },
): string {
  if (![hnsw.m, hnsw.efConstruction].every((v) => Number.isInteger(v) && v >= 2 && v <= 1000))
    throw new Error('HNSW parameters must be integers from 2 to 1000');
  return `CREATE INDEX "${codeIndexName(m)}" ON "palm_reference" USING hnsw ("code" bit_hamming_ops) WITH (m = ${hnsw.m}, ef_construction = ${hnsw.efConstruction}) WHERE "model" = ${modelLiteral(m)}`;
}

export interface StageOneShape {
  consentedOnly: boolean;
  excludePerson: boolean;
  model: EmbeddingModel;
  /**
   * 'code': the probe ($1) is a code, searched through the code index (the index's own order,
   * as long as hnsw.ef_search, is the ranking). 'embedding': a transformed embedding, searched as
   * `shortlist` says.
   */
  by: 'code' | 'embedding';
  /**
   * References the coarse index hands to the re-ranking (the HNSW search list, ef_search);
   * null for a tenant whose transform has no split (keyed before the coarse index): its
   * protected prefix means nothing, so it gets an exact search over the full vectors until it is
   * re-keyed.
   */
  shortlist: number | null;
}

/**
 * Stage one's statement; parameters: $1 vector, $2 tenant, $3 key version, then $4 the excluded
 * person when there is one. The filters are spelled out per case rather than as
 * `(NOT $x OR EXISTS …)`: PostgreSQL cannot fold such an OR and then hashes the whole consent
 * table on every query (measured: 16 ms instead of 2 ms at 20,000 references). The model and the
 * expressions are written in so that the planner matches the model's partial index. The
 * shortlist reads only ids and vectors; sealed templates and keys are fetched for the final
 * `limit` rows alone.
 */
export const STAGE_ONE_SQL = (limit: number, o: StageOneShape) => {
  const d = o.model.dimensions;
  const hamming = `r.code <~> $1::bit(${PROTECTED_CODE_BITS})`;
  const full = `r.embedding::vector(${d}) <=> $1::vector(${d})`;
  const filters = `r.model = ${modelLiteral(o.model)} AND r.tenant_id = $2 AND r.key_version = $3${o.excludePerson ? '\n      AND r.person_id <> $4' : ''}${
    o.consentedOnly
      ? `\n      AND EXISTS (SELECT 1 FROM consent c WHERE c.person_id = r.person_id AND c.tenant_id = $2 AND c.withdrawn_at IS NULL)`
      : ''
  }`;
  const ranked =
    o.by === 'code'
      ? `SELECT r.id, (${hamming}) / ${PROTECTED_CODE_BITS}.0 AS distance FROM palm_reference r
    WHERE ${filters}
    ORDER BY ${hamming} LIMIT ${limit}`
      : o.shortlist === null
        ? `SELECT r.id, ${full} AS distance FROM palm_reference r
    WHERE ${filters}
    ORDER BY ${full} LIMIT ${limit}`
        : `SELECT id, distance FROM (
      SELECT r.id, ${full} AS distance FROM palm_reference r
      WHERE ${filters}
      ORDER BY ${coarse('r.embedding')} <=> ${coarse('$1::vector')} LIMIT ${Math.max(limit, o.shortlist)}
    ) shortlist ORDER BY distance LIMIT ${limit}`;
  return `SELECT r.id, r.person_id, r.hand, r.model, r.fine_template, k.wrapped_key, s.distance
     FROM (${ranked}) s
     JOIN palm_reference r ON r.id = s.id
     LEFT JOIN person_data_key k ON k.person_id = r.person_id`;
};

/** How many references no search finds any more because a different model made them. */
export async function referencesOfOtherModels(
  db: Database,
  current: string,
): Promise<{ model: string; count: number }[]> {
  const rows = await db.query<{ model: string; count: string }>(
    `SELECT model, count(*) AS count FROM palm_reference WHERE model <> $1 GROUP BY model`,
    [current],
  );
  return rows.map((r) => ({ model: r.model, count: Number(r.count) }));
}

/**
 * Tenants whose references are still stored under the linear transform (stored before the
 * codes, until `palmid tenant rekey` converts them); only their references are counted.
 */
export async function tenantsToConvert(db: Database): Promise<{ id: string; references: number }[]> {
  const rows = await db.query<{ id: string; n: string }>(
    `SELECT t.id, (SELECT count(*) FROM palm_reference r WHERE r.tenant_id = t.id) AS n
       FROM tenant t WHERE t.template_protection = 'transform'`,
  );
  return rows.map((r) => ({ id: r.id, references: Number(r.n) })).filter((t) => t.references > 0);
}

export interface SearchOptions {
  /** The tenant searched, at its key version; for a 'transform' tenant its split decides index or exact search (StageOneShape.shortlist). */
  tenant: TenantKeying;
  /** the probe's embedding, protected as the tenant protects it (BiometricContext.protect), the model that made it and its length */
  probe: Searchable;
  model: string;
  dimensions: number;
  limit: number;
  /** Only people with an active consent to the tenant (identification). */
  consentedOnly: boolean;
  excludePersonId?: string;
}

/**
 * Stage one: nearest references by cosine distance, a shortlist from the coarse HNSW index
 * re-ranked by the full vectors. The filters (tenant, consent) work with the iterative index
 * scan set for every connection (src/db/database.ts), which keeps scanning until enough rows
 * pass them; the rows are re-sorted here because the outer join does not keep the order.
 */
export async function searchReferences(db: Database, o: SearchOptions): Promise<Candidate[]> {
  // Planned for each query, with the LIMIT written in, so the planner sees how few rows are wanted.
  const limit = Math.max(1, Math.min(1000, Math.floor(o.limit)));
  const rows = await db.query<{
    id: string;
    person_id: string;
    hand: 'left' | 'right';
    model: string;
    fine_template: Uint8Array;
    wrapped_key: Uint8Array | null;
    distance: number;
  }>(
    STAGE_ONE_SQL(limit, {
      consentedOnly: o.consentedOnly,
      excludePerson: o.excludePersonId !== undefined,
      model: { model: o.model, dimensions: o.dimensions },
      by: 'code' in o.probe ? 'code' : 'embedding',
      shortlist: onCoarseIndex(o.tenant.transformSplit) ? db.hnswEfSearch : null,
    }),
    [
      'code' in o.probe ? bitLiteral(o.probe.code) : vectorLiteral(o.probe.embedding),
      o.tenant.id,
      o.tenant.keyVersion,
      ...(o.excludePersonId !== undefined ? [o.excludePersonId] : []),
    ],
  );
  return rows
    .map((r) => ({
      id: r.id,
      personId: r.person_id,
      hand: r.hand,
      model: r.model,
      sealedTemplate: r.fine_template,
      wrappedKey: r.wrapped_key,
      distance: Number(r.distance),
    }))
    .sort((a, b) => a.distance - b.distance);
}

export async function touchReference(db: Database, id: string): Promise<void> {
  await db.query(`UPDATE palm_reference SET last_used_at = now() WHERE id = $1`, [id]);
}

/**
 * A tenant's references at one key version, for re-keying, in pages: the stored transformed
 * embedding (null for a code), the sealed fine template and the person's wrapped data key.
 */
export interface RekeyRow {
  id: string;
  personId: string;
  embedding: Float32Array | null;
  sealedTemplate: Uint8Array;
  wrappedKey: Uint8Array | null;
}

export async function* referencesForRekey(
  db: Database,
  tenantId: string,
  keyVersion: number,
  pageSize = 500,
): AsyncGenerator<RekeyRow[]> {
  let after = '';
  for (;;) {
    const rows = await db.query<{
      id: string;
      person_id: string;
      embedding: string | null;
      fine_template: Uint8Array;
      wrapped_key: Uint8Array | null;
    }>(
      `SELECT r.id, r.person_id, r.embedding::text AS embedding, r.fine_template, k.wrapped_key
         FROM palm_reference r LEFT JOIN person_data_key k ON k.person_id = r.person_id
        WHERE r.tenant_id = $1 AND r.key_version = $2 AND r.id > $3 ORDER BY r.id LIMIT $4`,
      [tenantId, keyVersion, after, pageSize],
    );
    if (rows.length === 0) return;
    yield rows.map((r) => ({
      id: r.id,
      personId: r.person_id,
      embedding: r.embedding === null ? null : parseVector(r.embedding),
      sealedTemplate: r.fine_template,
      wrappedKey: r.wrapped_key,
    }));
    after = rows[rows.length - 1]!.id;
  }
}
