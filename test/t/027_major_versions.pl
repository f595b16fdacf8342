# Two PostgreSQL major versions side by side (the suite's own and PGBK_TEST_PG_OTHER, an
# installed server's directory such as /usr/lib/postgresql/15): one pgbk command lists,
# verifies and restores the repositories of both; a server refuses a repository of another
# major version and says what to do after pg_upgrade; a restore for another major version,
# and a --delta onto another version's data directory, are refused before anything is written.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use PgbkTest;

my $other_install = $ENV{PGBK_TEST_PG_OTHER} // '';
plan skip_all => 'PGBK_TEST_PG_OTHER names no other installed server version'
  unless $other_install && -x "$other_install/bin/postgres";

sub major { my ($node) = @_; return int($node->safe_psql('postgres', 'SHOW server_version_num') / 10000); }

my $old = PgbkTest::new_node('old', install_path => $other_install);
my $new = PgbkTest::new_node('new');
my ($old_major, $new_major) = (major($old), major($new));
isnt($old_major, $new_major, "two major versions: $old_major and $new_major");

$old->command_ok([ 'pgbench', '-i', '-s', '1', '-q', 'postgres' ], "pgbench data on PostgreSQL $old_major");
my $old_label = $old->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
PgbkTest::switch_and_wait_archived($old);
my $old_digests = PgbkTest::table_digests($old);
my $new_label = $new->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
my ($old_repo, $new_repo) = (PgbkTest::repo($old), PgbkTest::repo($new));

# One pgbk command reads both repositories.
foreach my $case ([ $old_repo, $old_major, $old_label ], [ $new_repo, $new_major, $new_label ])
{
	my ($repo, $major, $label) = @$case;
	command_like([ 'pgbk', '--repo', $repo, 'list' ],
		qr/^cluster: system identifier \d+, PostgreSQL $major\n(?s:.*)^\Q$label\E\s+full\s+complete/m,
		"pgbk list shows a PostgreSQL $major repository and its backup");
	my ($stdout, $stderr);
	IPC::Run::run([ 'pgbk', '--repo', $repo, 'list', '--json' ], '>', \$stdout, '2>', \$stderr);
	my ($backup) = grep { $_->{label} eq $label } @{ decode_json($stdout) };
	is(int($backup->{pg_version} / 10000), $major, "list --json gives backup ${label}'s server version");
	command_like([ 'pgbk', '--repo', $repo, 'verify', $label ], qr/\Q$label\E: intact/,
		"pgbk verify checks the PostgreSQL $major backup");
}

# The newer server pointed at the older one's repository (as after pg_upgrade) refuses it.
$new->safe_psql('postgres', "ALTER SYSTEM SET pgbk.repository = '$old_repo'");
$new->reload;
$new->poll_query_until('postgres', "SELECT current_setting('pgbk.repository') = '$old_repo'") or die;
my $offset = -s $new->logfile;
$new->safe_psql('postgres', 'SELECT pg_switch_wal()');
PgbkTest::wait_for(
	sub {
		slurp_file($new->logfile, $offset) =~
		  /belongs to another cluster \(system identifier \d+, PostgreSQL $old_major\); this cluster is \d+, PostgreSQL $new_major/;
	},
	'archiving into the other version\'s repository is refused, naming both versions');
like(slurp_file($new->logfile, $offset), qr/HINT:  A cluster moved to another major version \(pg_upgrade\) is a new cluster: give it a repository of its own/,
	'and the hint says what to do after pg_upgrade');
my $refused = $new->safe_psql('postgres', 'SELECT pgbk_backup_now()');
$new->poll_query_until('postgres', "SELECT state = 'failed' FROM pgbk_jobs WHERE label = '$refused'")
  or die 'the backup into the other version\'s repository did not fail';
like($new->safe_psql('postgres', "SELECT error FROM pgbk_jobs WHERE label = '$refused'"),
	qr/belongs to another cluster .*PostgreSQL $old_major/, 'a backup into it fails with the same reason');
command_like([ 'pgbk', '--repo', $old_repo, 'list' ], qr/^(?!.*\Q$refused\E)/s,
	'and leaves nothing in that repository');
$new->safe_psql('postgres', 'ALTER SYSTEM RESET pgbk.repository');
$new->reload;
PgbkTest::switch_and_wait_archived($new);

# A restore for the other major version is refused before anything is written.
my $target = PostgreSQL::Test::Utils::tempdir() . '/for-new';
command_fails_like([ 'pgbk', '--repo', $old_repo, 'restore', '--pgdata', $target, '--pg-version', $new_major ],
	qr/backup \Q$old_label\E was taken by PostgreSQL $old_major, and PostgreSQL $new_major \(--pg-version\) cannot start it/,
	'a restore of the older backup for the newer server is refused');
ok(!-e $target, 'and nothing was written');

# A --delta onto the newer server's (stopped) data directory is refused, and leaves it as it was.
$new->stop;
command_fails_like([ 'pgbk', '--repo', $old_repo, 'restore', '--pgdata', $new->data_dir, '--delta' ],
	qr/is a PostgreSQL $new_major data directory \(its PG_VERSION\), and backup \Q$old_label\E was taken by PostgreSQL $old_major/,
	'a delta restore onto another version\'s data directory is refused');
$new->start;
is($new->safe_psql('postgres', 'SELECT count(*) FROM pgbk_backups'), '1', 'which starts as before');

# For its own version the backup restores and starts, with the same data.
my $restored = PostgreSQL::Test::Cluster->new('restored', install_path => $other_install);
command_ok([ 'pgbk', '--repo', $old_repo, 'restore', '--pgdata', $restored->data_dir, '--pg-version', $old_major ],
	"restore with --pg-version $old_major");
$restored->append_conf('postgresql.conf',
	"port = " . $restored->port . "\nunix_socket_directories = '" . $restored->host . "'\n");
$restored->start;
$restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'no promotion';
is(major($restored), $old_major, "the copy runs on PostgreSQL $old_major");
is_deeply(PgbkTest::table_digests($restored), $old_digests, 'with the same data');

done_testing();
