// The worker's job queue in shared memory, owned here alone: enqueue (SQL functions and
// the worker's schedules), claim, finish and fail (the worker), snapshot (pgbk_jobs) and
// wait (pgbk_backup_now(wait => true)). Plain C data and PostgreSQL calls only: every
// function may ereport.
#pragma once
#include "glue.hpp"

/* Queues a job of `kind` and wakes the worker; the label is fixed now, from the request
 * time. Raises ERROR for an unknown kind or a full queue. */
void pgbk_jobs_enqueue(const char *kind, int trigger, char *label_out, int64 *id_out);
/* The oldest queued job, now running; NULL when none waits. */
PgbkJob *pgbk_jobs_claim_next(void);
/* A claimed job's outcome; waiters are woken. */
void pgbk_jobs_succeed(PgbkJob *job);
void pgbk_jobs_fail(PgbkJob *job, const char *message);
/* Every running job failed with `message` (the worker exits). */
void pgbk_jobs_fail_running(const char *message);
/* Appends to a job's note ("; "-separated). */
void pgbk_jobs_append_note(PgbkJob *job, const char *text);
/* The state of job `id` (PGBK_JOB_FREE once its slot was reused). */
int pgbk_jobs_state(int64 id);
/* Whether any job waits in the queue. */
bool pgbk_jobs_any_queued(void);
/* Whether a queued or running job carries `label`. */
bool pgbk_jobs_label_in_progress(const char *label);
/* A copy of every job in use, oldest first, into `out` (PGBK_MAX_JOBS entries); returns
 * how many. */
int pgbk_jobs_snapshot(PgbkJob *out);
/* Waits until job `id` is over; raises ERROR with its error when it failed. `label_out`
 * receives its label as finally taken. */
void pgbk_jobs_wait(int64 id, char *label_out);
/* "queued", "running", "succeeded" or "failed". */
const char *pgbk_job_state_name(int state);
