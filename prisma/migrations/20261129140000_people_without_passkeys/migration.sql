-- People without passkeys (#13): an administrator adds or imports them, or an invitation creates
-- them at once; their passkey, if any, comes later. A person has an optional phone number (E.164,
-- checked by src/accounts/people.ts), and an invitation names the person whose passkey it adds, so
-- that removing the person voids their pending invitations with them.
ALTER TABLE "person" ADD COLUMN "phone" TEXT;
ALTER TABLE "invitation" ADD COLUMN "person_id" TEXT;
ALTER TABLE "invitation" ADD CONSTRAINT "invitation_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "person"("id") ON DELETE CASCADE ON UPDATE CASCADE;
CREATE INDEX "invitation_person_id_idx" ON "invitation"("person_id");
-- An unused invitation made before this names the person its address already has, so that it is
-- voided with them and its passkey goes to them.
UPDATE "invitation" SET "person_id" = p."id" FROM "person" p
  WHERE "invitation"."email" = p."email" AND "invitation"."used_at" IS NULL AND "invitation"."person_id" IS NULL;
