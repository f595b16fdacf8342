// The backup job: one full, differential or incremental backup, then retention. Its
// phases bracket the core's backup engine with PostgreSQL's non-exclusive backup API.
#pragma once
#include "glue.hpp"

/* Runs a claimed backup job; raises ERROR on failure. */
void pgbk_run_backup_job(PgbkJob *job);
/* After a failed backup job: ends the backup in PostgreSQL and, when this job wrote the
 * backup's record, marks it failed in the repository and removes its data. */
void pgbk_abandon_backup_job(PgbkJob *job, const char *message);
/* At the worker's start: marks backups left incomplete by a crash or a failover failed,
 * and ends a backup in PostgreSQL when the worker exits during one. */
void pgbk_backup_jobs_start(void);
