-- A size out of range names the valid range. PostgreSQL 16 and later print the range with
-- its unit (expected/guc_units_1.out), 15 without.
ALTER SYSTEM SET pgbk.s3_part_size = '1MB';
