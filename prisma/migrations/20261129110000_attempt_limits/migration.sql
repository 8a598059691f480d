-- Attempt limits that a stranger cannot turn against someone else (NIST SP 800-63B-4 §3.2.3).
-- attempt_rate: a token bucket of failed attempts per source (address, client, reader), kept as
-- the time the bucket is full again; a row in the past equals no row and is purged.
CREATE TABLE "attempt_rate" (
    "key" TEXT NOT NULL,
    "refilled_at" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "attempt_rate_pkey" PRIMARY KEY ("key")
);
CREATE INDEX "attempt_rate_refilled_at_idx" ON "attempt_rate"("refilled_at");

-- attempt_throttle keeps the consecutive counts of targets; a count that may be forgotten (a
-- person named by login_hint, per address) has an expiry, a person's PIN count has none.
ALTER TABLE "attempt_throttle" ADD COLUMN "expires_at" TIMESTAMPTZ(3);
CREATE INDEX "attempt_throttle_expires_at_idx" ON "attempt_throttle"("expires_at");

-- The per-interaction counts of browser sign-ins were never deleted, and a reader's count was a
-- lock on the gate: both are replaced by attempt_rate.
DELETE FROM "attempt_throttle" WHERE "subject" LIKE 'interaction:%' OR "subject" LIKE 'reader:%';
