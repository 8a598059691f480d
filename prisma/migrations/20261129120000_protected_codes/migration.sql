-- Palm references are searched by a keyed, non-invertible bit code (src/biometrics/protection.ts,
-- TenantProjection) instead of a keyed orthogonal transform of the embedding, which is linear: a
-- few palms whose embedding and stored vector are known give the transform away, and anchor
-- palms enrolled at two deployments link everyone else (bench/protection.ts).
--
-- Each tenant records its scheme. Tenants with references keep 'transform' (their references
-- stay searchable as they are) until `palmid tenant rekey` converts them; the server warns until
-- then. Tenants without references, and new ones, use 'projection'.
ALTER TABLE "tenant" ADD COLUMN "template_protection" TEXT NOT NULL DEFAULT 'transform';
UPDATE "tenant" t SET "template_protection" = 'projection' WHERE NOT EXISTS (SELECT 1 FROM "palm_reference" r WHERE r."tenant_id" = t."id");
ALTER TABLE "tenant" ALTER COLUMN "template_protection" SET DEFAULT 'projection';
ALTER TABLE "tenant" ADD CONSTRAINT "tenant_template_protection_check" CHECK ("template_protection" IN ('transform', 'projection'));

-- A reference carries one searchable form: the transformed embedding (old) or the code (new).
ALTER TABLE "palm_reference" ALTER COLUMN "embedding" DROP NOT NULL;
ALTER TABLE "palm_reference" ADD COLUMN "code" bit(2048);
ALTER TABLE "palm_reference" ADD CONSTRAINT "palm_reference_one_searchable_form" CHECK (("embedding" IS NULL) <> ("code" IS NULL));

-- Hamming-distance HNSW index over the codes, per model like the coarse embedding index.
CREATE INDEX "palm_reference_code_palm_gabor_v2_2_0_0" ON "palm_reference" USING hnsw ("code" bit_hamming_ops) WITH (m = 32, ef_construction = 200) WHERE "model" = 'palm-gabor-v2@2.0.0';
