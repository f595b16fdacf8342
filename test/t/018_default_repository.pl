# The default repository is per cluster (issue 12): two clusters of one version side by
# side (Debian's 15/main and 15/second) get pgbk_repo-main and pgbk_repo-second, so the
# second's retention can never touch the first's backups. A cluster already using the
# shared default of pgbk 0.4 (pgbk_repo) keeps it while its identity record is this
# cluster's; a neighbour never joins it.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

my $main = PgbkTest::new_node('main');
my $parent = $main->basedir;
my $first = $main->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
ok(-f "$parent/pgbk_repo-pgdata/pgbk.repo", 'the default repository is named after the data directory');

# The layout pgbk 0.4 left behind: the repository is the shared pgbk_repo.
$main->stop;
rename("$parent/pgbk_repo-pgdata", "$parent/pgbk_repo") or die "rename: $!";
$main->start;
is($main->safe_psql('postgres', 'SELECT string_agg(label, \',\') FROM pgbk_backups'),
	$first, "the shared default of 0.4 stays this cluster's repository (its identity record names it)");
my $walfile = PgbkTest::switch_and_wait_archived($main);
ok(!-e "$parent/pgbk_repo-pgdata", 'and its WAL goes on going there, not to a new repository');

# A second cluster beside it, started by hand (PostgreSQL::Test::Cluster gives every
# node its own parent directory).
my $second_dir = "$parent/second";
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $host = $main->host;
command_ok([ 'initdb', '-D', $second_dir, '-A', 'trust', '-N', '--data-checksums' ], 'a second cluster beside it');
PostgreSQL::Test::Utils::append_to_file("$second_dir/postgresql.conf", qq{
port = $port
listen_addresses = ''
unix_socket_directories = '$host'
shared_preload_libraries = 'pgbk'
wal_level = replica
archive_mode = on
archive_library = 'pgbk'
});
command_ok([ 'pg_ctl', '-D', $second_dir, '-l', "$parent/second.log", '-w', 'start' ], 'started');

sub second_sql
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', $host, '-p', $port, '-d', 'postgres',
		'-c', $sql ], '>', \$out, '2>', \$err)
	  or die "psql on the second cluster failed: $err";
	chomp $out;
	return $out;
}

second_sql('CREATE EXTENSION pgbk');
second_sql('SELECT pgbk_backup_now(wait => true)');
second_sql('SELECT pgbk_backup_now(wait => true)');
ok(-f "$parent/pgbk_repo-second/pgbk.repo", "the neighbour's backups go to its own pgbk_repo-second");
is(second_sql("SELECT count(*) FROM pgbk_backups WHERE status = 'complete'"), '2', 'it sees only its own two');

# The attack of the issue: the neighbour keeps one backup and expires.
second_sql('SELECT pgbk_set_retention(1)');
second_sql('SELECT count(*) FROM pgbk_expire()');
is(second_sql("SELECT count(*) FROM pgbk_backups WHERE expire_after IS NOT NULL"), '1',
	"the neighbour's expiry ran: it marked its older backup (removed after pgbk.expire_delay)");
is($main->safe_psql('postgres', 'SELECT string_agg(label, \',\') FROM pgbk_backups'),
	$first, "the first cluster's backup is untouched");
command_ok([ 'pgbk', '--repo', "$parent/pgbk_repo", 'verify' ], 'and its repository verifies');
ok(-f "$parent/pgbk_repo/pgbk.repo", "the shared repository's identity record is still the first cluster's");

command_ok([ 'pg_ctl', '-D', $second_dir, '-w', '-m', 'fast', 'stop' ], 'the second cluster stops');
done_testing();
