-- Recognition health (#14): palm sign-in outcomes counted per tenant, source (the reader, or the
-- relying party at the browser login) and hour, so that an operator sees a drifting camera or
-- threshold before people do. One row per (tenant, source, hour, outcome), incremented by an
-- upsert; outcomes: matched, not_matched, throttled, unusable:<reason>. For compared attempts the
-- score's margin over the decision threshold is summed and its minimum kept (genuine margins of
-- matched sign-ins shrinking is the early sign). Counts only: no person, no score per attempt.
CREATE TABLE "recognition_stat" (
  "tenant_id" TEXT NOT NULL,
  "source" TEXT NOT NULL,
  "channel" TEXT NOT NULL,
  "hour" TIMESTAMPTZ(3) NOT NULL,
  "outcome" TEXT NOT NULL,
  "count" INTEGER NOT NULL DEFAULT 0,
  "margin_count" INTEGER NOT NULL DEFAULT 0,
  "margin_sum" DOUBLE PRECISION NOT NULL DEFAULT 0,
  "margin_min" DOUBLE PRECISION,
  CONSTRAINT "recognition_stat_pkey" PRIMARY KEY ("tenant_id", "source", "hour", "outcome")
);
CREATE INDEX "recognition_stat_hour_idx" ON "recognition_stat"("hour");
