-- Enrolment stations and the person's own account (#13).
-- Staff of one tenant: an enrolment station is run by a person with a role scoped to that tenant
-- ('staff' enrols people; 'admin' is kept for the operator console's tenant administrators).
CREATE TABLE "tenant_member" (
  "person_id" TEXT NOT NULL,
  "tenant_id" TEXT NOT NULL,
  "role" TEXT NOT NULL DEFAULT 'staff',
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "tenant_member_pkey" PRIMARY KEY ("person_id", "tenant_id"),
  CONSTRAINT "tenant_member_role_check" CHECK ("role" IN ('staff', 'admin'))
);
ALTER TABLE "tenant_member" ADD CONSTRAINT "tenant_member_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "person"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "tenant_member" ADD CONSTRAINT "tenant_member_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;
CREATE INDEX "tenant_member_tenant_id_idx" ON "tenant_member"("tenant_id");
-- How a consent was given: 'operator' (recorded by an operator at the terminal, as before),
-- 'station' (the person accepted the notice on an enrolment station's screen) or 'self' (on their
-- own account page). A station consent names the staff member who ran the station and the station.
ALTER TABLE "consent" ADD COLUMN "method" TEXT NOT NULL DEFAULT 'operator';
ALTER TABLE "consent" ADD COLUMN "recorded_by_id" TEXT;
ALTER TABLE "consent" ADD COLUMN "station" TEXT;
ALTER TABLE "consent" ADD CONSTRAINT "consent_method_check" CHECK ("method" IN ('operator', 'station', 'self'));
ALTER TABLE "consent" ADD CONSTRAINT "consent_recorded_by_id_fkey" FOREIGN KEY ("recorded_by_id") REFERENCES "person"("id") ON DELETE SET NULL ON UPDATE CASCADE;
-- A passkey's name, given by its owner on the account page.
ALTER TABLE "passkey" ADD COLUMN "name" TEXT;
-- The language the person chose on palmid's pages (BCP 47 base tag; null: from the browser).
ALTER TABLE "person" ADD COLUMN "locale" TEXT;
