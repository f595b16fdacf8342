/*
 * jobs.cpp
 *
 * The job queue in shared memory (jobs.hpp): the only code that reads or writes
 * pgbk_shared->jobs.
 */
#include "jobs.hpp"

#include "job_kinds.hpp"

#include "boundary.hpp"

namespace {

void
require_shared_state(void)
{
	if (pgbk_shared == NULL)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("pgbk is not loaded in shared_preload_libraries"),
						errhint("Add pgbk to shared_preload_libraries and restart the server.")));
}

/* Marks a job over, under the lock held by the caller. */
void
finish_locked(PgbkJob *job, int state, const char *message)
{
	job->state = state;
	job->finished_at = GetCurrentTimestamp();
	if (message != NULL)
		strlcpy(job->error, message, sizeof(job->error));
}

} // namespace

void
pgbk_jobs_enqueue(const char *kind, int trigger, char *label_out, int64 *id_out)
{
	PgbkJob *slot = NULL;
	pg_time_t secs = timestamptz_to_time_t(GetCurrentTimestamp());
	char label[PGBK_LABEL_LEN];
	Latch *latch;

	require_shared_state();
	LWLockAcquire(pgbk_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < PGBK_MAX_JOBS; i++) {
		PgbkJob *job = &pgbk_shared->jobs[i];
		if (job->state == PGBK_JOB_FREE) {
			slot = job;
			break;
		}
		if ((job->state == PGBK_JOB_SUCCEEDED || job->state == PGBK_JOB_FAILED) && (slot == NULL || job->id < slot->id))
			slot = job;
	}
	if (slot == NULL) {
		LWLockRelease(pgbk_shared->lock);
		ereport(ERROR, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						errmsg("pgbk: too many queued jobs (%d)", PGBK_MAX_JOBS),
						errhint("Wait for queued jobs to finish; see pgbk_jobs.")));
	}
	/* Labels are unique and increasing (the worker seeds last_label from the repository). */
	{
		const PgbkJobKind *known = pgbk_job_kind(kind);
		pgbk::glue::CppResult r = pgbk::glue::RunCpp([&] {
			if (known == NULL)
				throw pgbk::Error(pgbk::ErrorKind::Config, std::string("unknown job kind \"") + kind + "\"");
			strlcpy(label, pgbk::NextLabel(secs, pgbk_shared->last_label, known->label_suffix).c_str(), sizeof(label));
		});
		if (!r.ok) {
			LWLockRelease(pgbk_shared->lock);
			pgbk::glue::RaiseIfFailed(r, NULL);
		}
	}
	strlcpy(pgbk_shared->last_label, label, sizeof(pgbk_shared->last_label));
	memset(slot->error, 0, sizeof(slot->error));
	memset(slot->note, 0, sizeof(slot->note));
	slot->id = pgbk_shared->next_job_id++;
	slot->state = PGBK_JOB_QUEUED;
	slot->trigger = trigger;
	strlcpy(slot->kind, kind, sizeof(slot->kind));
	strlcpy(slot->label, label, sizeof(slot->label));
	slot->requested_at = GetCurrentTimestamp();
	slot->started_at = 0;
	slot->finished_at = 0;
	pg_atomic_write_u64(&slot->bytes_read, 0);
	pg_atomic_write_u64(&slot->bytes_written, 0);
	pg_atomic_write_u64(&slot->bad_blocks, 0);
	*id_out = slot->id;
	latch = pgbk_shared->worker_latch;
	LWLockRelease(pgbk_shared->lock);
	strlcpy(label_out, label, PGBK_LABEL_LEN);
	if (latch != NULL)
		SetLatch(latch);
}

PgbkJob *
pgbk_jobs_claim_next(void)
{
	PgbkJob *next = NULL;

	LWLockAcquire(pgbk_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < PGBK_MAX_JOBS; i++) {
		PgbkJob *job = &pgbk_shared->jobs[i];
		if (job->state == PGBK_JOB_QUEUED && (next == NULL || job->id < next->id))
			next = job;
	}
	if (next != NULL) {
		next->state = PGBK_JOB_RUNNING;
		next->started_at = GetCurrentTimestamp();
	}
	LWLockRelease(pgbk_shared->lock);
	return next;
}

void
pgbk_jobs_succeed(PgbkJob *job)
{
	LWLockAcquire(pgbk_shared->lock, LW_EXCLUSIVE);
	finish_locked(job, PGBK_JOB_SUCCEEDED, NULL);
	LWLockRelease(pgbk_shared->lock);
	ConditionVariableBroadcast(&pgbk_shared->job_done_cv);
}

void
pgbk_jobs_fail(PgbkJob *job, const char *message)
{
	LWLockAcquire(pgbk_shared->lock, LW_EXCLUSIVE);
	finish_locked(job, PGBK_JOB_FAILED, message);
	LWLockRelease(pgbk_shared->lock);
	ConditionVariableBroadcast(&pgbk_shared->job_done_cv);
}

void
pgbk_jobs_fail_running(const char *message)
{
	LWLockAcquire(pgbk_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < PGBK_MAX_JOBS; i++)
		if (pgbk_shared->jobs[i].state == PGBK_JOB_RUNNING)
			finish_locked(&pgbk_shared->jobs[i], PGBK_JOB_FAILED, message);
	LWLockRelease(pgbk_shared->lock);
	ConditionVariableBroadcast(&pgbk_shared->job_done_cv);
}

void
pgbk_jobs_append_note(PgbkJob *job, const char *text)
{
	LWLockAcquire(pgbk_shared->lock, LW_EXCLUSIVE);
	if (job->note[0] != '\0')
		strlcat(job->note, "; ", sizeof(job->note));
	strlcat(job->note, text, sizeof(job->note));
	LWLockRelease(pgbk_shared->lock);
}

int
pgbk_jobs_state(int64 id)
{
	int state = PGBK_JOB_FREE;

	LWLockAcquire(pgbk_shared->lock, LW_SHARED);
	for (int i = 0; i < PGBK_MAX_JOBS; i++)
		if (pgbk_shared->jobs[i].id == id)
			state = pgbk_shared->jobs[i].state;
	LWLockRelease(pgbk_shared->lock);
	return state;
}

bool
pgbk_jobs_any_queued(void)
{
	bool queued = false;

	LWLockAcquire(pgbk_shared->lock, LW_SHARED);
	for (int i = 0; i < PGBK_MAX_JOBS; i++)
		if (pgbk_shared->jobs[i].state == PGBK_JOB_QUEUED)
			queued = true;
	LWLockRelease(pgbk_shared->lock);
	return queued;
}

bool
pgbk_jobs_label_in_progress(const char *label)
{
	bool found = false;

	if (pgbk_shared == NULL)
		return false;
	LWLockAcquire(pgbk_shared->lock, LW_SHARED);
	for (int i = 0; i < PGBK_MAX_JOBS; i++) {
		PgbkJob *job = &pgbk_shared->jobs[i];
		if ((job->state == PGBK_JOB_RUNNING || job->state == PGBK_JOB_QUEUED) && strcmp(job->label, label) == 0)
			found = true;
	}
	LWLockRelease(pgbk_shared->lock);
	return found;
}

int
pgbk_jobs_snapshot(PgbkJob *out)
{
	int n = 0;

	require_shared_state();
	LWLockAcquire(pgbk_shared->lock, LW_SHARED);
	for (int i = 0; i < PGBK_MAX_JOBS; i++)
		if (pgbk_shared->jobs[i].state != PGBK_JOB_FREE)
			memcpy(&out[n++], &pgbk_shared->jobs[i], sizeof(PgbkJob));
	LWLockRelease(pgbk_shared->lock);
	/* Oldest first. */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && out[j - 1].id > out[j].id; j--) {
			PgbkJob tmp;
			memcpy(&tmp, &out[j], sizeof(PgbkJob));
			memcpy(&out[j], &out[j - 1], sizeof(PgbkJob));
			memcpy(&out[j - 1], &tmp, sizeof(PgbkJob));
		}
	return n;
}

void
pgbk_jobs_wait(int64 id, char *label_out)
{
	ConditionVariablePrepareToSleep(&pgbk_shared->job_done_cv);
	for (;;) {
		int state = PGBK_JOB_FREE;
		char error[PGBK_ERROR_LEN] = "";
		char kind[sizeof(((PgbkJob *)0)->kind)] = "";

		LWLockAcquire(pgbk_shared->lock, LW_SHARED);
		for (int i = 0; i < PGBK_MAX_JOBS; i++) {
			PgbkJob *job = &pgbk_shared->jobs[i];
			if (job->id == id) {
				state = job->state;
				strlcpy(error, job->error, sizeof(error));
				strlcpy(kind, job->kind, sizeof(kind));
				/* A differential or incremental without a prior became a full backup. */
				strlcpy(label_out, job->label, PGBK_LABEL_LEN);
			}
		}
		LWLockRelease(pgbk_shared->lock);
		if (state == PGBK_JOB_SUCCEEDED)
			break;
		if (state == PGBK_JOB_FAILED) {
			ConditionVariableCancelSleep();
			ereport(ERROR, (errmsg("pgbk: %s %s failed: %s", pgbk_job_noun(kind), label_out, error)));
		}
		if (state == PGBK_JOB_FREE) {
			ConditionVariableCancelSleep();
			ereport(ERROR, (errmsg("pgbk: lost track of job %lld", (long long)id),
							errhint("See pgbk_backups for its outcome.")));
		}
		(void)ConditionVariableTimedSleep(&pgbk_shared->job_done_cv, 1000, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
}

const char *
pgbk_job_state_name(int state)
{
	switch (state) {
	case PGBK_JOB_QUEUED:
		return "queued";
	case PGBK_JOB_RUNNING:
		return "running";
	case PGBK_JOB_SUCCEEDED:
		return "succeeded";
	case PGBK_JOB_FAILED:
		return "failed";
	}
	return "unknown";
}
