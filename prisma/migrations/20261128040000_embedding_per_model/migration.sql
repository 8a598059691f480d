-- Embeddings belong to the model that made them (palm-gabor-v2@2.0.0: 128 values, learnt
-- projection; palm-gabor-v1@1.0.0 made 294). The column takes any length; each model gets a
-- partial HNSW index over its own rows, on the embedding cast to its length, and searches name
-- the model (src/biometrics/references.ts). References of an older model stay, found by no
-- search, until the person enrols again: nothing is deleted here. m 32 and ef_construction 200,
-- not 16 and 64: on 10,000 references of the bench gallery the mate was in HNSW's top 20 for
-- 93 % of probes with 16/64 and 100 % with 16/200; on 100,000, 95 % with 16/200 and 98 % with
-- 32/200 (exact search: 100 %), for ~200 more bytes per palm and 2 ms more at p95.
DROP INDEX IF EXISTS "palm_reference_embedding_hnsw";

ALTER TABLE "palm_reference" ALTER COLUMN "embedding" TYPE vector;

CREATE INDEX "palm_reference_embedding_palm_gabor_v2_2_0_0" ON "palm_reference" USING hnsw (("embedding"::vector(128)) vector_cosine_ops) WITH (m = 32, ef_construction = 200) WHERE "model" = 'palm-gabor-v2@2.0.0';
