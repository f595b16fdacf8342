// The kinds of job the worker runs, in one table: the name (pgbk_jobs.kind and
// pgbk_schedule.type), its schedule setting, how a scheduled run is shared between the
// nodes of an HA cluster, its label letter, what runs a claimed job and what cleans up
// after one that failed. Backups are one kind per backup type (backup_type.hpp). A new
// kind (a dump, a drill) is a row here, the file that runs it, and its settings.
#pragma once
#include "pgbk/backup_type.hpp"
#include "pgbk/settings.hpp"

#include <iterator>
#include <string_view>

#include "backup_job.hpp"
#include "glue.hpp"

/* How the scheduled runs of a kind are shared between the nodes of an HA cluster. */
typedef enum PgbkRunClaim {
	/* One node per run: pgbk.backup_standby says which nodes may take it
	 * (schedule_slot.hpp), and a create-only claim in the repository decides. */
	PGBK_CLAIM_ONE_NODE_PER_RUN,
} PgbkRunClaim;

typedef struct PgbkJobKind {
	std::string_view name;
	std::string_view noun; /* how messages name one: "backup 20261207-010000F failed" */
	std::string_view schedule_setting; /* its cron setting ("": none) */
	PgbkRunClaim claim;
	char label_suffix; /* YYYYMMDD-HHMMSS<suffix> */
	/* Runs a claimed job; raises ERROR on failure. */
	void (*run)(PgbkJob *job);
	/* After a failure (the error is already flushed): undoes what the job left. */
	void (*abandon)(PgbkJob *job, const char *message);
} PgbkJobKind;

constexpr PgbkJobKind
pgbk_backup_job_kind(pgbk::BackupType type)
{
	return PgbkJobKind{pgbk::RulesOf(type).name,
					   "backup",
					   pgbk::RulesOf(type).schedule_setting,
					   PGBK_CLAIM_ONE_NODE_PER_RUN,
					   pgbk::RulesOf(type).label_suffix,
					   pgbk_run_backup_job,
					   pgbk_abandon_backup_job};
}

/* Biggest first: when several schedules are due at once, the first one due runs. */
inline constexpr PgbkJobKind pgbk_job_kinds[] = {
	pgbk_backup_job_kind(pgbk::BackupType::Full),
	pgbk_backup_job_kind(pgbk::BackupType::Diff),
	pgbk_backup_job_kind(pgbk::BackupType::Incr),
};
inline constexpr int pgbk_job_kind_count = (int)std::size(pgbk_job_kinds);

static_assert(
	[] {
		for (const PgbkJobKind &k : pgbk_job_kinds)
			if (!k.schedule_setting.empty() && pgbk::settings::IndexOf(k.schedule_setting) >= pgbk::settings::kCount)
				return false;
		return true;
	}(),
	"every job kind's schedule is a setting");

/* The kind named `name`, or NULL. */
const PgbkJobKind *pgbk_job_kind(const char *name);
/* How messages name a job of kind `name` ("job" when the kind is unknown). */
const char *pgbk_job_noun(const char *name);
/* The current value of a kind's schedule setting ("" when it has none). */
const char *pgbk_job_kind_schedule(const PgbkJobKind *kind);
