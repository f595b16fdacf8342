/*
 * job_kinds.cpp
 *
 * Lookups in the table of job kinds (job_kinds.hpp).
 */
#include "job_kinds.hpp"

const PgbkJobKind *
pgbk_job_kind(const char *name)
{
	for (const PgbkJobKind &k : pgbk_job_kinds)
		if (k.name == name)
			return &k;
	return NULL;
}

const char *
pgbk_job_noun(const char *name)
{
	const PgbkJobKind *kind = pgbk_job_kind(name);

	return kind != NULL ? kind->noun.data() : "job"; /* literals: NUL-terminated */
}

const char *
pgbk_job_kind_schedule(const PgbkJobKind *kind)
{
	if (kind->schedule_setting.empty())
		return "";
	return pgbk::glue::StringSetting(pgbk::settings::IndexOf(kind->schedule_setting));
}
