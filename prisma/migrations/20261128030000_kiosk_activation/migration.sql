-- Kiosk readers: a browser reader activates itself once with a short-lived one-time code from
-- `palmid reader add` (only the code's SHA-256 hash is kept) and installs a key it generated itself.

ALTER TABLE "reader" ADD COLUMN "activation_code_hash" TEXT;
ALTER TABLE "reader" ADD COLUMN "activation_expires_at" TIMESTAMPTZ(3);
ALTER TABLE "reader" ADD COLUMN "activated_at" TIMESTAMPTZ(3);

CREATE UNIQUE INDEX "reader_activation_code_hash_key" ON "reader"("activation_code_hash");
