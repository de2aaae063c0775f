-- A large segment refresh writes its crm.segment.membership.changed events
-- from one statement, 5,000 ids (about 185 kB) per event. Compressing them
-- with lz4 instead of the default pglz halves what writing them costs
-- (measured: 1.46 s against 0.79 s for the events of a 1,000,000-member
-- fill) for a tenth more space; small events are not compressed at all.
-- A server built without lz4 keeps pglz.
DO $$
BEGIN
  ALTER TABLE "outbox_events" ALTER COLUMN "payload" SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'lz4 is not available: outbox payloads stay compressed with pglz';
END $$;
-- Each new membership takes an id from this sequence; one at a time, that
-- was a sixth of a 1,000,000-member fill (measured: 3.8 s against 3.2 s with
-- 1,000 cached per session). Ids stay unique; a session that ends leaves a
-- gap, which nothing reads.
ALTER TABLE "segment_memberships" ALTER COLUMN "id" SET CACHE 1000;
