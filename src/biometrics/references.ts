/** The palm_reference table and its pgvector search. */
import type { TenantKeying } from '../accounts/tenants.js';
import type { Database } from '../db/database.js';
import type { Prisma } from '../generated/prisma/client.js';
import { bitLiteral, PROTECTED_CODE_BITS } from './protection.js';

/** Statements that must run inside a caller's transaction (erasure and re-keying, lifecycle.ts). */
type Tx = Prisma.TransactionClient;

/**
 * A reference is searchable by one protected form (see protection.ts): the keyed bit code
 * (column `code`, tenants on 'projection') or, for references stored before it, the keyed
 * transform of the embedding (column `embedding`, tenants on 'transform'). The fine template is
 * stored only sealed.
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

/** The columns a reference is written with, in order, each with the cast its parameter needs. */
const REFERENCE_COLUMNS: ReadonlyArray<readonly [column: string, cast: string]> = [
  ['id', ''],
  ['person_id', ''],
  ['tenant_id', ''],
  ['hand', ''],
  ['model', ''],
  ['key_version', ''],
  ['embedding', '::vector'],
  ['code', `::bit(${PROTECTED_CODE_BITS})`],
  ['fine_template', ''],
  ['samples', ''],
  ['quality', ''],
];

/** One reference's parameters for insertReferencesSql, in column order. */
export function referenceValues(ref: StoredReference): unknown[] {
  return [
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
  ];
}

/**
 * The INSERT of `rows` references, whose parameters are each one's referenceValues, one after
 * the other: saveReference writes one, bulk loaders (bench/gallery.ts) many.
 */
export function insertReferencesSql(rows: number): string {
  const width = REFERENCE_COLUMNS.length;
  const row = (r: number) => `(${REFERENCE_COLUMNS.map(([, cast], c) => `$${r * width + c + 1}${cast}`).join(', ')})`;
  return `INSERT INTO palm_reference (${REFERENCE_COLUMNS.map(([column]) => column).join(', ')})
       VALUES ${Array.from({ length: rows }, (_, r) => row(r)).join(', ')}`;
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
    await tx.$executeRawUnsafe(insertReferencesSql(1), ...referenceValues(ref));
  });
}

/** The id of the person's reference for this tenant and hand, if there is one. */
export async function findReferenceId(
  db: Database,
  key: { personId: string; tenantId: string; hand: 'left' | 'right' },
): Promise<string | null> {
  const [row] = await db.query<{ id: string }>(
    `SELECT id FROM palm_reference WHERE person_id = $1 AND tenant_id = $2 AND hand = $3`,
    [key.personId, key.tenantId, key.hand],
  );
  return row?.id ?? null;
}

/** The N of 1:N; an index-only scan of palm_reference_tenant_id_key_version_model_idx. */
export const GALLERY_SIZE_SQL = `SELECT count(*)::int AS n FROM palm_reference
  WHERE tenant_id = $1 AND key_version = $2 AND model = $3`;

/** How many references a search at this tenant, key version and model runs against. */
export async function countReferences(db: Database, tenantId: string, keyVersion: number, model: string) {
  const [row] = await db.query<{ n: number }>(GALLERY_SIZE_SQL, [tenantId, keyVersion, model]);
  return Number(row?.n ?? 0);
}

/**
 * Embeddings of different models are not comparable and need not have the same length, so the
 * column takes any length and each model has its own partial HNSW indexes over its own rows: one
 * over the codes (codeIndexSql) and, for tenants still on the transform, one over the embedding.
 * That one is coarse: it covers only the embedding's leading COARSE_DIMENSIONS values (the most
 * discriminative, in LDA order), which the tenant transform keeps apart (protection.ts), and
 * stage one re-ranks its shortlist by the full vector: a graph of 32-value nodes is a quarter of
 * the distance work and much smaller than one of 128, and the leading 32 lose nothing that the
 * re-ranking needs (`npm run bench:identify` measures its recall). A new model ships a migration
 * that creates its indexes (text from codeIndexSql and embeddingIndexSql); references made by an
 * older model are left alone, found by no search, until the person enrols again.
 */
export interface EmbeddingModel {
  /** `name@version`, as templates carry it */
  model: string;
  dimensions: number;
}

/** The leading dimensions the coarse index covers and tenant transforms keep apart. */
export const COARSE_DIMENSIONS = 32;

/**
 * Whether a tenant's protected vectors can be searched through the coarse index (its transform
 * keeps the prefix apart).
 */
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

/** A model's name as part of an index name. */
const indexSuffix = (m: EmbeddingModel) => m.model.replace(/[^a-z0-9]+/gi, '_').toLowerCase();

export function embeddingIndexName(m: EmbeddingModel): string {
  return `palm_reference_coarse_${indexSuffix(m)}`;
}

/** The indexed expression: the leading dimensions of a vector (a column, or a parameter as `$1::vector`). */
export const coarse = (column: string) =>
  `(subvector(${column}, 1, ${COARSE_DIMENSIONS})::vector(${COARSE_DIMENSIONS}))`;

/** The shipped build parameters are m 32, ef_construction 200 (see the migration); benchmarks may try others. */
export function embeddingIndexSql(m: EmbeddingModel, hnsw: HnswBuild = { m: 32, efConstruction: 200 }): string {
  return (
    `CREATE INDEX "${embeddingIndexName(m)}" ON "palm_reference" ` +
    `USING hnsw (${coarse('"embedding"')} vector_cosine_ops) ` +
    `${hnswWith(hnsw)} WHERE "model" = ${modelLiteral(m)}`
  );
}

/** Build parameters of an HNSW index, checked (they are written into the statement). */
export interface HnswBuild {
  m: number;
  efConstruction: number;
}

function hnswWith(hnsw: HnswBuild): string {
  if (![hnsw.m, hnsw.efConstruction].every((v) => Number.isInteger(v) && v >= 2 && v <= 1000))
    throw new Error('HNSW parameters must be integers from 2 to 1000');
  return `WITH (m = ${hnsw.m}, ef_construction = ${hnsw.efConstruction})`;
}

export function codeIndexName(m: EmbeddingModel): string {
  return `palm_reference_code_${indexSuffix(m)}`;
}

/**
 * The index of the codes: HNSW by Hamming distance over all PROTECTED_CODE_BITS bits (codes
 * are not ordered by importance, so there is no prefix to index). A new model ships a migration
 * with this text; the shipped build parameters are m 32, ef_construction 200.
 */
export function codeIndexSql(m: EmbeddingModel, hnsw: HnswBuild = { m: 32, efConstruction: 200 }): string {
  return (
    `CREATE INDEX "${codeIndexName(m)}" ON "palm_reference" USING hnsw ("code" bit_hamming_ops) ` +
    `${hnswWith(hnsw)} WHERE "model" = ${modelLiteral(m)}`
  );
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
 * Stage one's statement; parameters: $1 the probe (code or vector), $2 tenant, $3 key version, then $4 the excluded
 * person when there is one. The filters are spelled out per case rather than as
 * `(NOT $x OR EXISTS …)`: PostgreSQL cannot fold such an OR and then hashes the whole consent
 * table on every query, a cost that grows with the gallery. The model and the
 * expressions are written in so that the planner matches the model's partial index. The
 * shortlist reads only ids and vectors; sealed templates and keys are fetched for the final
 * `limit` rows alone.
 */
export const STAGE_ONE_SQL = (limit: number, o: StageOneShape) => {
  const d = o.model.dimensions;
  const hamming = `r.code <~> $1::bit(${PROTECTED_CODE_BITS})`;
  const full = `r.embedding::vector(${d}) <=> $1::vector(${d})`;
  const filters =
    `r.model = ${modelLiteral(o.model)} AND r.tenant_id = $2 AND r.key_version = $3` +
    (o.excludePerson ? '\n      AND r.person_id <> $4' : '') +
    (o.consentedOnly
      ? '\n      AND EXISTS (SELECT 1 FROM consent c' +
        ' WHERE c.person_id = r.person_id AND c.tenant_id = $2 AND c.withdrawn_at IS NULL)'
      : '');
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
  /**
   * The tenant searched, at its key version; for a 'transform' tenant its split decides index or
   * exact search (StageOneShape.shortlist).
   */
  tenant: TenantKeying;
  /**
   * The probe's embedding, protected as the tenant protects it (BiometricContext.protect), the
   * model that made it and its length.
   */
  probe: Searchable;
  model: string;
  dimensions: number;
  limit: number;
  /** Only people with an active consent to the tenant (identification). */
  consentedOnly: boolean;
  excludePersonId?: string;
}

/**
 * Stage one: nearest references by the tenant's protected form, codes by Hamming distance
 * through the code index, transformed embeddings by cosine distance (a shortlist from the coarse
 * index re-ranked by the full vectors, or an exact search; StageOneShape). The filters (tenant,
 * consent) work with the iterative index scan set for every connection (src/db/database.ts),
 * which keeps scanning until enough rows pass them; the rows are re-sorted here because the outer
 * join does not keep the order.
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
 * 1:1: the person's references at the tenant's key version that a probe of `model` can be
 * compared with, if the person consents to the tenant.
 */
export async function referencesToVerify(
  db: Database,
  o: { personId: string; tenant: TenantKeying; model: string },
): Promise<Array<{ id: string; sealedTemplate: Uint8Array }>> {
  const rows = await db.query<{ id: string; fine_template: Uint8Array }>(
    `SELECT r.id, r.fine_template
       FROM palm_reference r
      WHERE r.person_id = $1 AND r.tenant_id = $2 AND r.key_version = $3 AND r.model = $4
        AND EXISTS (SELECT 1 FROM consent c
                     WHERE c.person_id = r.person_id AND c.tenant_id = $2 AND c.withdrawn_at IS NULL)`,
    [o.personId, o.tenant.id, o.tenant.keyVersion, o.model],
  );
  return rows.map((r) => ({ id: r.id, sealedTemplate: r.fine_template }));
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

/** Re-keying, inside its transaction: one reference moves to the new key version's code. */
export async function rekeyReference(
  tx: Tx,
  ref: { id: string; code: Uint8Array; resealedTemplate: Uint8Array | null },
  from: { keyVersion: number },
  to: { keyVersion: number },
): Promise<void> {
  await tx.$executeRawUnsafe(
    `UPDATE palm_reference
        SET embedding = NULL, code = $1::bit(${PROTECTED_CODE_BITS}), key_version = $2,
            fine_template = COALESCE($3, fine_template)
      WHERE id = $4 AND key_version = $5`,
    bitLiteral(ref.code),
    to.keyVersion,
    ref.resealedTemplate,
    ref.id,
    from.keyVersion,
  );
}

/** Erasure, inside its transaction (dataKeys.ts, shred): a person's references, at one tenant or all. */
export async function deleteReferences(tx: Tx, personId: string, tenantId?: string): Promise<number> {
  return tenantId === undefined
    ? tx.$executeRawUnsafe(`DELETE FROM palm_reference WHERE person_id = $1`, personId)
    : tx.$executeRawUnsafe(`DELETE FROM palm_reference WHERE person_id = $1 AND tenant_id = $2`, personId, tenantId);
}

/** References unused for longer than their tenant's retention period at `now`. */
const UNUSED = `last_used_at < $1::timestamptz - t.retention_days * interval '1 day'`;

/** The people who have references past their tenant's retention period. */
export async function peopleWithUnusedReferences(db: Database, now: Date): Promise<string[]> {
  const rows = await db.query<{ person_id: string }>(
    `SELECT DISTINCT r.person_id FROM palm_reference r JOIN tenant t ON t.id = r.tenant_id WHERE r.${UNUSED}`,
    [now.toISOString()],
  );
  return rows.map((r) => r.person_id);
}

/**
 * Retention, inside its transaction: these people's references past their tenant's retention
 * period, checked again (a reference used meanwhile is kept). How many went, per tenant, with
 * the tenant's retention period.
 */
export async function deleteUnusedReferences(
  tx: Tx,
  personIds: string[],
  now: Date,
): Promise<Array<{ tenantId: string; retentionDays: number; deleted: number }>> {
  const deleted = new Map<string, { tenantId: string; retentionDays: number; deleted: number }>();
  for (let i = 0; i < personIds.length; i += 1000) {
    const ids = personIds.slice(i, i + 1000);
    const rows = await tx.$queryRawUnsafe<Array<{ tenant_id: string; retention_days: number; n: number }>>(
      `WITH gone AS (DELETE FROM palm_reference d USING tenant t
         WHERE t.id = d.tenant_id AND d.${UNUSED}
           AND d.person_id IN (${ids.map((_, j) => `$${j + 2}`).join(',')}) RETURNING d.tenant_id, t.retention_days)
       SELECT tenant_id, retention_days, count(*)::int AS n FROM gone GROUP BY tenant_id, retention_days`,
      now.toISOString(),
      ...ids,
    );
    for (const r of rows) {
      const entry = deleted.get(r.tenant_id) ?? { tenantId: r.tenant_id, retentionDays: r.retention_days, deleted: 0 };
      entry.deleted += r.n;
      deleted.set(r.tenant_id, entry);
    }
  }
  return [...deleted.values()];
}
