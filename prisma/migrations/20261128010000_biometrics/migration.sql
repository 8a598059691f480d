-- Tenants, consent, protected palm references, cards and loyalty numbers.

CREATE TABLE "tenant" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "retention_days" INTEGER NOT NULL DEFAULT 1095,
    "target_fmr" DOUBLE PRECISION NOT NULL DEFAULT 0.00001,
    "key_version" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "tenant_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "tenant_retention_days_check" CHECK ("retention_days" BETWEEN 1 AND 1095)
);

CREATE TABLE "biometric_notice" (
    "tenant_id" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "text" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "biometric_notice_pkey" PRIMARY KEY ("tenant_id","version")
);

CREATE TABLE "consent" (
    "id" TEXT NOT NULL,
    "person_id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "notice_version" INTEGER NOT NULL,
    "granted_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "withdrawn_at" TIMESTAMPTZ(3),
    CONSTRAINT "consent_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "person_data_key" (
    "person_id" TEXT NOT NULL,
    "wrapped_key" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "person_data_key_pkey" PRIMARY KEY ("person_id")
);

CREATE TABLE "palm_reference" (
    "id" TEXT NOT NULL,
    "person_id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "hand" TEXT NOT NULL,
    "model" TEXT NOT NULL,
    "key_version" INTEGER NOT NULL,
    "embedding" vector(294) NOT NULL,
    "fine_template" BYTEA NOT NULL,
    "samples" INTEGER NOT NULL,
    "quality" DOUBLE PRECISION NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "palm_reference_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "palm_reference_hand_check" CHECK ("hand" IN ('left', 'right'))
);

CREATE TABLE "payment_card" (
    "id" TEXT NOT NULL,
    "person_id" TEXT NOT NULL,
    "vault" TEXT NOT NULL,
    "vault_token" TEXT NOT NULL,
    "brand" TEXT NOT NULL,
    "last4" TEXT NOT NULL,
    "exp_month" INTEGER NOT NULL,
    "exp_year" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "payment_card_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "loyalty_number" (
    "person_id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "number" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "loyalty_number_pkey" PRIMARY KEY ("person_id","tenant_id")
);

CREATE TABLE "vault_entry" (
    "token" TEXT NOT NULL,
    "ciphertext" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "vault_entry_pkey" PRIMARY KEY ("token")
);

CREATE INDEX "consent_tenant_id_person_id_idx" ON "consent"("tenant_id", "person_id");
CREATE UNIQUE INDEX "palm_reference_person_id_tenant_id_hand_key" ON "palm_reference"("person_id", "tenant_id", "hand");
CREATE INDEX "palm_reference_tenant_id_idx" ON "palm_reference"("tenant_id");
CREATE INDEX "payment_card_person_id_idx" ON "payment_card"("person_id");
-- Stage one of identification: approximate nearest neighbours by cosine distance.
CREATE INDEX "palm_reference_embedding_hnsw" ON "palm_reference" USING hnsw ("embedding" vector_cosine_ops) WITH (m = 16, ef_construction = 64);

ALTER TABLE "biometric_notice" ADD CONSTRAINT "biometric_notice_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "consent" ADD CONSTRAINT "consent_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "person"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "consent" ADD CONSTRAINT "consent_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "person_data_key" ADD CONSTRAINT "person_data_key_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "person"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "palm_reference" ADD CONSTRAINT "palm_reference_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "person"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "palm_reference" ADD CONSTRAINT "palm_reference_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "payment_card" ADD CONSTRAINT "payment_card_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "person"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "loyalty_number" ADD CONSTRAINT "loyalty_number_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "person"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "loyalty_number" ADD CONSTRAINT "loyalty_number_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;
