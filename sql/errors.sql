-- Core failures reach SQL with the SQLSTATE of their kind (src/pg/boundary.cpp):
-- configuration -> 22023 invalid_parameter_value, missing object -> 42704
-- undefined_object.
CREATE FUNCTION pg_temp.sqlstate_of(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE query;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
SELECT pg_temp.sqlstate_of($$SELECT * FROM pgbk_verify('19990101-000000F')$$) AS unknown_backup;
SELECT pg_temp.sqlstate_of($$SELECT pgbk_set_target('relative/dir', '{}')$$) AS relative_target;
SELECT pg_temp.sqlstate_of($$SELECT pgbk_set_target('ftp://host/x', '{}')$$) AS unknown_scheme;
-- pgbk_set_target's options take exactly what the settings take, units included.
SELECT pgbk_set_target('s3://pgbk-regress/p', '{"part_size": "1MB"}');
SELECT pgbk_set_target('s3://pgbk-regress/p', '{"verify_tls": "maybe"}');
SELECT pgbk_set_target('/tmp/pgbk_regress_target', '{"endpoint": "http://127.0.0.1:1"}');
