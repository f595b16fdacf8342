# Standby backups that restore like any other (issue 26). A standby made with
# pg_basebackup -X stream holds WAL without status files; its first backup counts the
# segments the repository holds byte for byte as archived instead of waiting for a
# restartpoint to remove them. The backup carries no signal file: restored with --clone
# it opens read-write, restored with --standby it stays a standby, and the data is exact.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

my $primary = PgbkTest::new_node('primary', allows_streaming => 1,
	# Long enough that only this test's WAL switches complete the segments it waits for,
	# and that they do not make the primary checkpoint (the standby's restartpoint would
	# remove the WAL whose status this test is about).
	extra_conf => "pgbk.archive_timeout = 600\ncheckpoint_timeout = 1h\nmax_wal_size = 2GB\n");
my $repo = PgbkTest::repo($primary);
$primary->safe_psql('postgres', "ALTER SYSTEM SET pgbk.repository = '$repo'");
$primary->reload;
$primary->safe_psql('postgres', "CREATE TABLE t (id int, phase text)");
$primary->safe_psql('postgres', "INSERT INTO t SELECT g, 'before' FROM generate_series(1, 10000) g");

# pg_basebackup -X stream (the test framework's default): its WAL has no status file.
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
# The standby's first full backup, right away: its start segment is one pg_basebackup
# streamed, with no status file. The primary completes the stop segment by switching.
my $label = $standby->safe_psql('postgres', "SELECT pgbk_backup_now('full')");
like($label, qr/F$/, 'a full backup requested on the new standby');
my $last_switch = 0;
PgbkTest::wait_for(sub {
	if (time() > $last_switch)
	{
		$primary->safe_psql('postgres', "INSERT INTO t VALUES (0, 'switch'); SELECT pg_switch_wal()");
		$last_switch = time();
	}
	return $standby->safe_psql('postgres', "SELECT state FROM pgbk_jobs WHERE label = '$label'") !~ /^(queued|running)$/;
}, 'the standby backup ran');
is($standby->safe_psql('postgres', "SELECT state || ' ' || coalesce(error, '') FROM pgbk_jobs WHERE label = '$label'"),
	'succeeded ', 'it succeeds without waiting for a restartpoint (the archive_timeout is 600 s)');
note('the standby backup took ' . $standby->safe_psql('postgres',
	"SELECT round(extract(epoch FROM finished_at - started_at), 1) FROM pgbk_jobs WHERE label = '$label'") . ' s');
my $start_wal = $standby->safe_psql('postgres', "SELECT wal_start FROM pgbk_backups WHERE label = '$label'");
ok(-f $standby->data_dir . "/pg_wal/$start_wal" && !-e $standby->data_dir . "/pg_wal/archive_status/$start_wal.done",
	"its start segment $start_wal is still in pg_wal without a status file: the repository's copy proved it archived");
ok(-e $standby->data_dir . '/standby.signal', 'the standby itself is a standby');
ok(!-e "$repo/backup/$label/data/standby.signal", 'the backup does not carry standby.signal');

# Everything up to here is in the backup's reach once the primary archived it.
$primary->safe_psql('postgres', "INSERT INTO t SELECT g, 'after' FROM generate_series(10001, 11000) g");
PgbkTest::switch_and_wait_archived($primary);
my $expect = PgbkTest::table_digests($primary);

# A clone opens read-write: recovery.signal only.
my $clone = PgbkTest::restore_and_start($repo, 'clone', '--backup', $label, '--clone');
ok(!-e $clone->data_dir . '/standby.signal', 'the clone has no standby.signal');
is($clone->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 'f', 'the clone left recovery');
is_deeply(PgbkTest::table_digests($clone), $expect, "the clone's data is exact");
$clone->stop;

# Restored as a standby it stays one, replaying the archive.
my $copy = PostgreSQL::Test::Cluster->new('copy');
command_ok([ 'pgbk', '--repo', $repo, 'restore', '--pgdata', $copy->data_dir, '--backup', $label, '--standby' ],
	'restore as a standby');
ok(-e $copy->data_dir . '/standby.signal' && !-e $copy->data_dir . '/recovery.signal',
	'only standby.signal is written');
# A replica of the cluster archives nothing itself (archive_mode = on on a standby).
$copy->append_conf('postgresql.conf',
	"port = " . $copy->port . "\nunix_socket_directories = '" . $copy->host . "'\n");
$copy->start;
$copy->poll_query_until('postgres', "SELECT count(*) = 11000 FROM t WHERE id > 0")
  or die 'the standby copy did not replay the archive';
is($copy->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'and it is still a standby');
$copy->stop;

done_testing();
