/*
 * settings.cpp
 *
 * The pgbk.* GUCs, registered from the core's one table of settings
 * (pgbk/settings.hpp): type, default, range, unit, context and flags come from there,
 * and each string setting's check hook runs the core check of its definition.
 */
#include "pgbk/settings.hpp"

#include <array>
#include <utility>

#include "boundary.hpp"
#include "glue.hpp"

namespace {

using pgbk::settings::Definition;
using pgbk::settings::kCount;
using pgbk::settings::kDefinitions;

/* Storage of each setting's value, by index in kDefinitions (one array per type). */
char *string_values[kCount];
int int_values[kCount];
bool bool_values[kCount];
/*
 * Secrets. The GUC variable only ever holds a fixed mask, set or not; the value lives in
 * the GUC's "extra" (kept and freed by guc.c) and is reached through secret_values.
 * pg_settings and SHOW show the mask, and since the shown value never changes, a reload
 * never logs the secret (the postmaster logs "parameter changed to <new text>" only when
 * the shown value changes).
 */
const char *secret_values[kCount];
const char *const kSecretMask = "(hidden)";

/*
 * True while _PG_init defines the settings. A value from postgresql.conf that fails its
 * check then would silently fall back to the default (guc.c only warns), which for a key
 * file means "no encryption"; settings marked kKeptInvalidAtStart keep such a value, and
 * whatever uses it fails naming it until it is fixed.
 */
bool defining_settings = false;

/* Only string settings carry checks (the GUC machinery checks the other types). */
constexpr bool
OnlyStringsHaveChecks()
{
	for (const auto &d : kDefinitions)
		if (d.check != nullptr && d.type != pgbk::settings::Type::String)
			return false;
	return true;
}
static_assert(OnlyStringsHaveChecks(), "checks of non-string settings are not registered");

/*
 * Values and "extra" handed to guc.c must come from its own allocator: malloc up to
 * PostgreSQL 15, its memory context from 16 on (freeing one with the other aborts the
 * server at start).
 */
char *
GucStrdup(const char *value)
{
#if PG_VERSION_NUM >= 160000
	return guc_strdup(LOG, value);
#else
	return strdup(value);
#endif
}

void
GucFree(void *value)
{
#if PG_VERSION_NUM >= 160000
	guc_free(value);
#else
	free(value);
#endif
}

bool
CheckSecret(size_t id, char **newval, void **extra)
{
	const char *value = *newval ? *newval : "";
	char *copy;
	char *masked;

	/* re-applying the shown value (e.g. RESET to a masked reset value) means unset */
	copy = GucStrdup(strcmp(value, kSecretMask) == 0 ? "" : value);
	if (copy == NULL)
		return false;
	/* Shown even when unset: a shown value that never changes is never logged. */
	masked = GucStrdup(kSecretMask);
	if (masked == NULL) {
		GucFree(copy);
		return false;
	}
	GucFree(*newval);
	*newval = masked;
	*extra = copy;
	return true;
}

bool
CheckString(size_t id, char **newval, void **extra)
{
	const Definition &def = kDefinitions[id];
	if (def.check == nullptr)
		return (def.flags & pgbk::settings::kSecret) ? CheckSecret(id, newval, extra) : true;
	const char *value = *newval ? *newval : "";
	pgbk::glue::CppResult r = pgbk::glue::RunCpp([&] {
		pgbk::settings::CheckContext context;
		context.data_directory = DataDir ? DataDir : "";
		context.filesystem = IsUnderPostmaster; /* the postmaster never waits on a mount */
		def.check(value, context);
	});
	if (r.ok || (defining_settings && (def.flags & pgbk::settings::kKeptInvalidAtStart)))
		return (def.flags & pgbk::settings::kSecret) ? CheckSecret(id, newval, extra) : true;
	GUC_check_errdetail("%s", r.message);
	if (!pgbk::settings::TextOf(def).hint.empty())
		GUC_check_errhint("%.*s", static_cast<int>(pgbk::settings::TextOf(def).hint.size()),
						  pgbk::settings::TextOf(def).hint.data());
	return false;
}

template <size_t I>
bool
CheckStringHook(char **newval, void **extra, GucSource)
{
	return CheckString(I, newval, extra);
}

template <size_t I>
void
AssignSecretHook(const char *, void *extra)
{
	secret_values[I] = extra ? static_cast<const char *>(extra) : "";
}

template <size_t... I>
constexpr std::array<GucStringCheckHook, kCount>
MakeStringChecks(std::index_sequence<I...>)
{
	return {&CheckStringHook<I>...};
}

template <size_t... I>
constexpr std::array<GucStringAssignHook, kCount>
MakeSecretAssigns(std::index_sequence<I...>)
{
	return {&AssignSecretHook<I>...};
}

constexpr auto kStringChecks = MakeStringChecks(std::make_index_sequence<kCount>{});
constexpr auto kSecretAssigns = MakeSecretAssigns(std::make_index_sequence<kCount>{});

/* A copy that lives as long as the process, as guc.c expects of names and descriptions. */
const char *
Permanent(std::string_view s)
{
	char *copy = static_cast<char *>(MemoryContextAlloc(TopMemoryContext, s.size() + 1));
	memcpy(copy, s.data(), s.size());
	copy[s.size()] = '\0';
	return copy;
}

const char *
PermanentOrNull(std::string_view s)
{
	return s.empty() ? NULL : Permanent(s);
}

int
GucFlags(const Definition &def)
{
	int flags = 0;
	if (def.flags & pgbk::settings::kSuperuserOnly)
		flags |= GUC_SUPERUSER_ONLY;
	if (def.flags & pgbk::settings::kTesting)
		flags |= GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE;
	switch (def.unit) {
	case pgbk::settings::Unit::Megabytes:
		flags |= GUC_UNIT_MB;
		break;
	case pgbk::settings::Unit::Seconds:
		flags |= GUC_UNIT_S;
		break;
	case pgbk::settings::Unit::Milliseconds:
		flags |= GUC_UNIT_MS;
		break;
	case pgbk::settings::Unit::None:
		break;
	}
	return flags;
}

const struct config_enum_entry *
EnumEntries(const Definition &def)
{
	auto *entries = static_cast<struct config_enum_entry *>(
		MemoryContextAllocZero(TopMemoryContext, sizeof(struct config_enum_entry) * (def.choices.size() + 1)));
	for (size_t i = 0; i < def.choices.size(); i++) {
		entries[i].name = Permanent(def.choices[i]);
		entries[i].val = static_cast<int>(i);
	}
	return entries;
}

void
DefineOne(size_t id)
{
	const Definition &def = kDefinitions[id];
	const char *name = Permanent(def.name);
	const char *summary = PermanentOrNull(pgbk::settings::TextOf(def).summary);
	const char *detail = PermanentOrNull(pgbk::settings::TextOf(def).detail);
	GucContext context = def.applies == pgbk::settings::Applies::Restart ? PGC_POSTMASTER : PGC_SIGHUP;
	int flags = GucFlags(def);
	std::string default_text(def.default_value);

	switch (def.type) {
	case pgbk::settings::Type::String: {
		bool secret = (def.flags & pgbk::settings::kSecret) != 0;
		secret_values[id] = "";
		DefineCustomStringVariable(name, summary, detail, &string_values[id], Permanent(def.default_value), context,
								   flags, kStringChecks[id], secret ? kSecretAssigns[id] : NULL, NULL);
		break;
	}
	case pgbk::settings::Type::Integer:
		DefineCustomIntVariable(name, summary, detail, &int_values[id], atoi(default_text.c_str()),
								static_cast<int>(def.min), static_cast<int>(def.max), context, flags, NULL, NULL, NULL);
		break;
	case pgbk::settings::Type::Boolean:
		DefineCustomBoolVariable(name, summary, detail, &bool_values[id], default_text == "on", context, flags, NULL,
								 NULL, NULL);
		break;
	case pgbk::settings::Type::Enum: {
		int default_choice = 0;
		for (size_t i = 0; i < def.choices.size(); i++)
			if (def.choices[i] == def.default_value)
				default_choice = static_cast<int>(i);
		DefineCustomEnumVariable(name, summary, detail, &int_values[id], default_choice, EnumEntries(def), context,
								 flags, NULL, NULL, NULL);
		break;
	}
	}
}

} // namespace

void
pgbk_define_settings(void)
{
	defining_settings = true;
	for (size_t i = 0; i < kCount; i++)
		DefineOne(i);
	defining_settings = false;
	MarkGUCPrefixReserved("pgbk");
}

namespace pgbk::glue {

const char *
StringSetting(size_t id)
{
	if (kDefinitions[id].flags & pgbk::settings::kSecret)
		return secret_values[id] ? secret_values[id] : "";
	return string_values[id] ? string_values[id] : "";
}

int
IntSetting(size_t id)
{
	return int_values[id];
}

bool
BoolSetting(size_t id)
{
	return bool_values[id];
}

pgbk::settings::Values
CurrentSettings()
{
	pgbk::settings::Values v;
	for (size_t i = 0; i < kCount; i++) {
		const Definition &def = kDefinitions[i];
		switch (def.type) {
		case pgbk::settings::Type::String:
			v.SetCanonical(i, StringSetting(i));
			break;
		case pgbk::settings::Type::Integer:
			v.SetCanonical(i, std::to_string(int_values[i]));
			break;
		case pgbk::settings::Type::Boolean:
			v.SetCanonical(i, bool_values[i] ? "on" : "off");
			break;
		case pgbk::settings::Type::Enum:
			v.SetCanonical(i, std::string(def.choices[static_cast<size_t>(int_values[i])]));
			break;
		}
	}
	return v;
}

} // namespace pgbk::glue
