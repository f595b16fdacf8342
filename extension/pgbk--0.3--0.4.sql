-- pgbk 0.3 -> 0.4: where backups go is a superuser's decision. pgbk_operator no longer
-- holds ALTER SYSTEM on the repository and S3 settings (it could point every base backup
-- at a server of its own); it chooses with pgbk_set_target among the targets a superuser
-- listed in pgbk.allowed_targets, and never the endpoint, TLS verification or CA file.
\echo Use "ALTER EXTENSION pgbk UPDATE TO '0.4'" to load this file. \quit

REVOKE ALTER SYSTEM ON PARAMETER
    pgbk.repository, pgbk.s3_endpoint, pgbk.s3_region, pgbk.s3_access_key_id, pgbk.s3_secret_access_key,
    pgbk.s3_session_token, pgbk.s3_uri_style, pgbk.s3_ca_file, pgbk.s3_verify_tls, pgbk.s3_sse,
    pgbk.s3_sse_kms_key_id, pgbk.s3_storage_class, pgbk.s3_part_size, pgbk.s3_retry_timeout
    FROM pgbk_operator;

COMMENT ON FUNCTION pgbk_set_target(text, jsonb) IS
    'Prove a repository (probe write, read, list, delete), then persist it and its S3 options like ALTER SYSTEM and reload; operators choose among pgbk.allowed_targets';
