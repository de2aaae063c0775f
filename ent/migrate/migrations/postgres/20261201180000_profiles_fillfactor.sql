-- Leave half of each "customer_profiles" page free, so a score run or an
-- ingested event rewriting a profile finds room on the row's own page and
-- updates it in place (HOT): no new entry in any of the table's indexes.
-- Pages written before this keep their packing until the rows move.
ALTER TABLE "customer_profiles" SET (fillfactor = 50);
