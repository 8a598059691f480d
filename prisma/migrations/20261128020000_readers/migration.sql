-- Readers (CIBA clients of a tenant), envelope replay protection, PINs and attempt throttling.

ALTER TABLE "person" ADD COLUMN "pin_hash" TEXT;

CREATE TABLE "reader" (
    "client_id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "location" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),
    CONSTRAINT "reader_pkey" PRIMARY KEY ("client_id")
);

CREATE TABLE "envelope_replay" (
    "jti" TEXT NOT NULL,
    "reader_id" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "envelope_replay_pkey" PRIMARY KEY ("jti")
);

CREATE TABLE "attempt_throttle" (
    "subject" TEXT NOT NULL,
    "failures" INTEGER NOT NULL DEFAULT 0,
    "last_failure_at" TIMESTAMPTZ(3),
    CONSTRAINT "attempt_throttle_pkey" PRIMARY KEY ("subject")
);

CREATE INDEX "reader_tenant_id_idx" ON "reader"("tenant_id");
CREATE INDEX "envelope_replay_expires_at_idx" ON "envelope_replay"("expires_at");
ALTER TABLE "reader" ADD CONSTRAINT "reader_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;
