-- Stage one searches a coarse HNSW index on the embedding's leading 32 values (the most
-- discriminative, in LDA order) and re-ranks that shortlist (as long as hnsw.ef_search) by the
-- full 128 (see src/biometrics/references.ts). Smaller and cheaper than the full-vector index it
-- replaces (32 values per graph node, not 128): on 100,000 bench references the right palm was
-- among the 20 candidates for 100/100 probes from ef_search 40 (stage-one p95 6.9 ms).
--
-- Protected vectors keep their leading values apart only under a block-diagonal tenant
-- transform (src/biometrics/protection.ts), recorded as the tenant's transform split. Tenants
-- that exist now keep their full transform (split NULL) and are searched exactly (no index)
-- until `palmid tenant rekey` moves them to a split transform; new tenants get 32.
ALTER TABLE "tenant" ADD COLUMN "transform_split" INTEGER;
ALTER TABLE "tenant" ALTER COLUMN "transform_split" SET DEFAULT 32;

DROP INDEX IF EXISTS "palm_reference_embedding_palm_gabor_v2_2_0_0";

CREATE INDEX "palm_reference_coarse_palm_gabor_v2_2_0_0" ON "palm_reference" USING hnsw ((subvector("embedding", 1, 32)::vector(32)) vector_cosine_ops) WITH (m = 32, ef_construction = 200) WHERE "model" = 'palm-gabor-v2@2.0.0';
