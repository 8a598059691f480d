-- Person data keys wrapped under bucket keys that live outside the database (src/crypto/keyStore.ts).
-- A wrapped key names its bucket and bucket-key version in its first bytes (format 2,
-- src/biometrics/dataKeys.ts); the columns are generated from them so that they can never
-- disagree, and index the rows an erasure re-wraps. Older rows (format 1, wrapped under a
-- master-key subkey) have NULL here until palmid re-wraps them at start.
ALTER TABLE "person_data_key"
  ADD COLUMN "bucket" INTEGER GENERATED ALWAYS AS (
    CASE WHEN get_byte("wrapped_key", 0) = 2 THEN get_byte("wrapped_key", 1) * 256 + get_byte("wrapped_key", 2) END) STORED,
  ADD COLUMN "key_version" INTEGER GENERATED ALWAYS AS (
    CASE WHEN get_byte("wrapped_key", 0) = 2 THEN get_byte("wrapped_key", 3) * 16777216 + get_byte("wrapped_key", 4) * 65536
      + get_byte("wrapped_key", 5) * 256 + get_byte("wrapped_key", 6) END) STORED;

CREATE INDEX "person_data_key_bucket_key_version_idx" ON "person_data_key"("bucket", "key_version");

-- The committed key version of each bucket. New data keys are wrapped under it (the row locked
-- FOR SHARE); an erasure moves it on (FOR UPDATE) in the transaction that re-wraps the bucket.
CREATE TABLE "data_key_bucket" (
    "bucket" INTEGER NOT NULL,
    "version" INTEGER NOT NULL,
    CONSTRAINT "data_key_bucket_pkey" PRIMARY KEY ("bucket")
);

INSERT INTO "data_key_bucket" ("bucket", "version") SELECT b, 1 FROM generate_series(0, 1023) AS b;
