# Standby backups that restore like any other (issue 26). A standby made with
# pg_basebackup -X stream holds WAL without status files; its first backup counts the
# segments the repository holds byte for byte as archived instead of waiting for a
# restartpoint to remove them. The backup carries no signal file: restored with --clone
# it opens read-write, restored with --standby it stays a standby, and the data is exact.
use strict;
use warnings;

use IPC::Run;
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

# Waiting for a backup on a standby holds no snapshot. A function waits inside its
# query's snapshot, which replayed cleanup conflicts with: recovery cancelled it after
# max_standby_streaming_delay while the backup went on. A waiting function is refused
# on a standby, naming the procedure, and CALL pgbk_backup waits with no snapshot (no
# backend_xmin) under pgbench and VACUUM on the primary, at the default delay, however
# long the backup takes.
my ($ret, $out, $err) = $standby->psql('postgres', "SELECT pgbk_backup_now('full', wait => true)");
isnt($ret, 0, 'a waiting function is refused on a standby');
like($err, qr/CALL pgbk_backup\('full'\) waits without a snapshot/, 'naming the procedure that waits');
is($standby->safe_psql('postgres', 'SHOW max_standby_streaming_delay'), '30s', 'at the default streaming delay');
$primary->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench data on the primary');
$standby->safe_psql('postgres', "ALTER SYSTEM SET pgbk.test_file_delay = '80ms'");
$standby->reload;
my $load = IPC::Run::start([ 'pgbench', '-n', '-T', '300', '-c', '2', '-h', $primary->host, '-p', $primary->port,
	'postgres' ], '>', '/dev/null', '2>', '/dev/null');
my ($call_out, $call_err) = ('', '');
my $call = IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $standby->connstr('postgres'),
	'-c', "CALL pgbk_backup('full')" ], '>', \$call_out, '2>', \$call_err);
PgbkTest::wait_for(sub {
	$standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CALL pgbk_backup%' AND wait_event = 'Extension'") eq '1';
}, 'CALL pgbk_backup is waiting');
is($standby->safe_psql('postgres', "SELECT backend_xmin IS NULL FROM pg_stat_activity WHERE query LIKE 'CALL pgbk_backup%'"),
	't', 'it holds no snapshot while it waits (no backend_xmin)');
my $vacuums = 0;
PgbkTest::wait_for(sub {
	$primary->safe_psql('postgres', 'VACUUM pgbench_accounts, pgbench_tellers, pgbench_branches');
	$vacuums++;
	$call->pumpable ? do { $call->pump_nb; 0 } : 1;
}, 'the backup completes');
$call->finish;
$load->kill_kill;
unlike($call_err, qr/ERROR/, 'the CALL was not cancelled');
like($call_err, qr/NOTICE:  pgbk: backup \d{8}-\d{6}F complete/, 'and named the complete backup');
($call_out) = $call_err =~ /pgbk: backup (\d{8}-\d{6}F) complete/;
is($standby->safe_psql('postgres', "SELECT status FROM pgbk_backups WHERE label = '$call_out'"), 'complete',
	'of a complete backup');
note("VACUUM ran $vacuums times on the primary during the wait; the backup took "
	  . $standby->safe_psql('postgres',
		"SELECT round(extract(epoch FROM finished_at - started_at)) FROM pgbk_jobs WHERE label = '$call_out'") . ' s');
cmp_ok($standby->safe_psql('postgres',
	"SELECT extract(epoch FROM finished_at - started_at) FROM pgbk_jobs WHERE label = '$call_out'"), '>', 30,
	'longer than max_standby_streaming_delay');

done_testing();
