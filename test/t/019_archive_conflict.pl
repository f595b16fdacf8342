# A content conflict stops archiving (issue 12): a copy of a data directory (same system
# identifier) archives its own WAL into the shared repository first; the original then
# finds its next segment already there with other content. From then on the original
# archives nothing more -- not in the background, not after a restart -- and completes
# no backup on WAL the repository holds from the other server, until a superuser runs
# pgbk_archive_resume(); the operator role cannot.
use strict;
use warnings;

use File::Find;
use File::Path qw(rmtree);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

my $original = PgbkTest::new_node('original');
my $repo = PgbkTest::repo($original);
is($original->safe_psql('postgres', 'SELECT pgbk_archive_resume()'), '', 'nothing to resume while nothing is stopped');
$original->safe_psql('postgres', 'CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g');
PgbkTest::switch_and_wait_archived($original);
$original->stop;

# The copy: the same data directory, its own port, the original's repository.
my $copy = PostgreSQL::Test::Cluster->new('copy');
$copy->init;
rmtree($copy->data_dir);
system('cp', '-a', $original->data_dir, $copy->data_dir) == 0 or die 'copy failed';
$copy->append_conf('postgresql.conf', "port = " . $copy->port . "\npgbk.repository = '$repo'\n");
$copy->start;
$copy->safe_psql('postgres', 'INSERT INTO t SELECT g FROM generate_series(1001, 201000) g');
my $contested = PgbkTest::switch_and_wait_archived($copy);
$copy->stop;

$original->start;
$original->safe_psql('postgres', 'INSERT INTO t SELECT -g FROM generate_series(1, 5000) g');
my $walfile = $original->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
ok($original->poll_query_until('postgres',
	"SELECT stopped_reason ~ 'already archived .* with different content' FROM pgbk_archive_status"),
	'the conflict stops archiving and says why')
  or diag($original->safe_psql('postgres', 'SELECT * FROM pgbk_archive_status'));
like(PostgreSQL::Test::Utils::slurp_file($original->logfile), qr/archiving is stopped/, 'and the log says so');

# Nothing more leaves this server: later segments wait in pg_wal, also after a restart.
my $later = $original->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
$original->restart;
my $after_restart = $original->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
ok($original->poll_query_until('postgres',
	"SELECT last_failure ~ 'archiving is stopped' FROM pgbk_archive_status"), 'still stopped after a restart');
foreach my $f ($later, $after_restart)
{
	ok(-e $original->data_dir . "/pg_wal/archive_status/$f.ready", "$f waits in pg_wal");
	my $stored = 0;
	find(sub { $stored++ if index($_, $f) == 0 }, "$repo/wal");
	is($stored, 0, "and is not in the repository");
}

# No backup completes against WAL that is not this server's.
my ($ret, $out, $err) = $original->psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
isnt($ret, 0, 'a backup on the stopped server fails');
like($err, qr/archiving is stopped/, 'naming the stop');
is($original->safe_psql('postgres', "SELECT count(*) FROM pgbk_backups WHERE status = 'complete'"), '0',
	'and nothing looks like a complete backup');

# Only a superuser resumes.
$original->safe_psql('postgres', 'CREATE ROLE op LOGIN IN ROLE pgbk_operator');
($ret, $out, $err) = $original->psql('postgres', 'SELECT pgbk_archive_resume()', extra_params => [ '-U', 'op' ]);
isnt($ret, 0, 'the operator role cannot resume archiving');
like($err, qr/permission denied|only a superuser/, 'refused');
ok(-e $original->data_dir . '/pgbk.archive_stopped', 'the stop stays');

like($original->safe_psql('postgres', 'SELECT pgbk_archive_resume()'), qr/different content/,
	'a superuser resumes, told why it had stopped');
# The conflict is still there: the next attempt stops archiving again.
ok($original->poll_query_until('postgres',
	"SELECT stopped_reason ~ '\Q$contested\E|\Q$walfile\E' FROM pgbk_archive_status"),
	'an unresolved conflict stops it again');
done_testing();
