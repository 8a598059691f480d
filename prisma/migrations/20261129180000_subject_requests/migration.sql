-- Data-subject requests (#14): export, erasure and consent withdrawal, asked for on the account
-- page or entered by staff, with a due date, an outcome and a receipt. The person is named by id
-- without a foreign key on purpose: the request and its receipt outlive an erased person (the id
-- is a random UUID, nothing else about them is kept here).
CREATE TABLE "subject_request" (
  "id" TEXT NOT NULL,
  "person_id" TEXT NOT NULL,
  "tenant_id" TEXT,
  "kind" TEXT NOT NULL,
  "source" TEXT NOT NULL,
  "entered_by" TEXT,
  "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "due_at" TIMESTAMPTZ(3) NOT NULL,
  "status" TEXT NOT NULL DEFAULT 'open',
  "completed_at" TIMESTAMPTZ(3),
  "handled_by" TEXT,
  "outcome" TEXT,
  "receipt_hash" TEXT,
  CONSTRAINT "subject_request_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "subject_request_kind_check" CHECK ("kind" IN ('export', 'erasure', 'withdrawal')),
  CONSTRAINT "subject_request_source_check" CHECK ("source" IN ('account', 'staff', 'cli')),
  CONSTRAINT "subject_request_status_check" CHECK ("status" IN ('open', 'done', 'refused'))
);
CREATE INDEX "subject_request_status_due_at_idx" ON "subject_request"("status", "due_at");
CREATE INDEX "subject_request_person_id_idx" ON "subject_request"("person_id");
