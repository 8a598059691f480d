-- A tamper-evident audit log (#14): every event from now on is a link of one global hash chain.
--   hash = sha256(prev_hash || seq as 8 bytes big-endian || sha256(canonical event text))
-- where the canonical text is RFC 8785 JSON of {action, actor, at, detail, subject}
-- (src/audit/chain.ts). One row, audit_chain_head, holds the newest link: each insert updates it
-- in the same statement, so its row lock orders writers from every palmid node on this database,
-- and a removed newest event is seen (the head names a link no row has).
-- Events written before this migration have no link (seq NULL) and are reported as unchained.
ALTER TABLE "audit_event" ADD COLUMN "seq" BIGINT;
ALTER TABLE "audit_event" ADD COLUMN "prev_hash" BYTEA;
ALTER TABLE "audit_event" ADD COLUMN "hash" BYTEA;
CREATE UNIQUE INDEX "audit_event_seq_key" ON "audit_event"("seq");
CREATE INDEX "audit_event_actor_idx" ON "audit_event"("actor");
CREATE INDEX "audit_event_subject_idx" ON "audit_event"("subject");
CREATE TABLE "audit_chain_head" (
  "id" INTEGER NOT NULL,
  "seq" BIGINT NOT NULL,
  "hash" BYTEA NOT NULL,
  "prev_hash" BYTEA,
  CONSTRAINT "audit_chain_head_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "audit_chain_head_one_row" CHECK ("id" = 1)
);
-- The genesis link: seq 0, 32 zero bytes.
INSERT INTO "audit_chain_head" ("id", "seq", "hash") VALUES (1, 0, decode(repeat('00', 32), 'hex'));
