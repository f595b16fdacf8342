# A long repository outage with pgbk.archive_overflow = drop (issue 14): the store is
# paused (the process between the server and radosgw gets SIGSTOP: connections are
# accepted and never answered) under pgbench and a bulk load on a cluster with
# max_wal_size = 64MB and a small spool. Once the spool is full WAL is dropped and the
# range recorded as a gap: the server stays up and pg_wal bounded, and a restart during
# the outage starts at once. When the store resumes, the worker takes a catch-up backup
# by itself that closes the gap; restore latest is exact, and a target inside the gap is
# refused, naming what can be reached.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use PgbkTest;

plan skip_all => 'PGBK_TEST_S3_ENDPOINT not set (scripts/test.sh starts radosgw)'
  unless $ENV{PGBK_TEST_S3_ENDPOINT};

my ($endpoint, $proxy, $handle) = PgbkTest::start_fault_proxy();
my $proxy_pid = $handle->{KIDS}[0]{PID};
my $paused = 0;
END { kill 'CONT', $proxy_pid if $paused && $proxy_pid; }
my $bucket = 'pgbk-overflow-' . $$;
my $url = "s3://$bucket/cluster";
my $node = PgbkTest::new_node('overflow',
	extra_conf => PgbkTest::s3_conf($url, $endpoint,
		"pgbk.s3_retry_timeout = 2\nmax_wal_size = 64MB\nmin_wal_size = 32MB\n"
		  . "pgbk.spool_limit = 24MB\npgbk.archive_overflow = drop\npgbk.archive_timeout = 120\n"));
PgbkTest::create_bucket($node->basedir, $bucket);
$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench data loaded');
$node->safe_psql('postgres', 'CREATE TABLE bulk (id bigint, pad text)');
$node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
PgbkTest::switch_and_wait_archived($node);
my $conf_file = $node->data_dir . '/postgresql.conf';

sub wal_dir_mb
{
	return $node->safe_psql('postgres', 'SELECT sum(size) / 1048576 FROM pg_ls_waldir()');
}

# The store pauses.
kill 'STOP', $proxy_pid or die "cannot pause the proxy: $!";
$paused = 1;
$node->command_ok([ 'pgbench', '-t', '1000', '-c', '2', '-j', '2', 'postgres' ], 'pgbench runs while the store is paused');
# Far more WAL than max_wal_size, the spool and pg_wal's bound together.
for my $i (1 .. 4) {
	$node->safe_psql('postgres', "INSERT INTO bulk SELECT g, repeat('x', 60) FROM generate_series(1, 700000) g");
}
my $written_at = $node->safe_psql('postgres', 'SELECT now()');
ok($node->poll_query_until('postgres', 'SELECT dropped_segments > 0 AND rpo_broken FROM pgbk_archive_status'),
	'segments past the spool are dropped and pgbk_archive_status says the recovery point is broken')
  or diag($node->safe_psql('postgres', 'SELECT * FROM pgbk_archive_status'));
$node->safe_psql('postgres', 'CHECKPOINT');
ok($node->poll_query_until('postgres', 'SELECT pending_segments <= 3 FROM pgbk_archive_status'),
	'nothing piles up in pg_wal');
$node->safe_psql('postgres', 'CHECKPOINT');
my $wal_mb = wal_dir_mb();
cmp_ok($wal_mb, '<=', 64 + 8 * 16, "pg_wal stays within max_wal_size plus a few segments ($wal_mb MB after 4 x 700000 rows)");
like($node->safe_psql('postgres', 'SELECT last_failure FROM pgbk_archive_status'),
	qr/^dropped \(gap [0-9A-F]{24} \.\. [0-9A-F]{24}, \d+ segments\): /, 'pgbk_archive_status says why');
my $log = PostgreSQL::Test::Utils::slurp_file($node->logfile);
my @warnings = $log =~ /WARNING:  pgbk: the repository is unreachable and the spool cannot take more; WAL is dropped/g;
is(scalar(@warnings), 1, 'one WARNING when overflow begins, not one per segment');
my ($first, $last, $closed) =
  split /\|/, $node->safe_psql('postgres', 'SELECT first_wal, last_wal, closed_at IS NULL FROM pgbk_archive_gaps');
ok($first && $last, "pgbk_archive_gaps shows the gap ($first .. $last) with no server to ask");
is($closed, 't', 'the gap is open');

# A restart during the outage: the server stops and starts, and takes writes. A request
# to the paused store stalls for pgbk.s3_retry_timeout's low-speed limit (30 s) at least:
# a shutdown that waited on one would take that long, so the bound below is generous
# on a busy machine and still fails when the shutdown waits. The timing itself is
# bench/run-outage.sh's.
my $t0 = time();
$node->stop;
my $stopped = time() - $t0;
cmp_ok($stopped, '<', 28, sprintf('a shutdown during the outage waits on no request to the paused store (%.1f s)', $stopped));
$node->start;
$node->safe_psql('postgres', 'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 1, 1, now())');
pass('the server starts during the outage and takes writes');
$node->safe_psql('postgres', "INSERT INTO bulk SELECT g, repeat('y', 60) FROM generate_series(1, 700000) g");

# The store resumes: the spool drains, the gap reaches the repository, and the worker
# takes a catch-up backup by itself that covers it.
kill 'CONT', $proxy_pid;
$paused = 0;
my $resumed = time();
$node->command_ok([ 'pgbench', '-t', '300', '-c', '2', '-j', '2', 'postgres' ], 'pgbench after the store resumes');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pgbk_jobs WHERE trigger = 'catch-up' AND state = 'succeeded'"),
	'the worker took a catch-up backup by itself')
  or diag($node->safe_psql('postgres', 'SELECT * FROM pgbk_jobs'));
my $catch_up = $node->safe_psql('postgres', "SELECT label FROM pgbk_jobs WHERE trigger = 'catch-up'");
ok($node->poll_query_until('postgres', 'SELECT bool_and(closed_at IS NOT NULL) FROM pgbk_archive_gaps'),
	'every gap is closed');
is($node->safe_psql('postgres', 'SELECT DISTINCT covered_by FROM pgbk_archive_gaps'), $catch_up,
	"covered by the catch-up backup $catch_up");
note(sprintf('store resumed -> gap closed: %.1f s', time() - $resumed));
is($node->safe_psql('postgres', 'SELECT rpo_broken FROM pgbk_archive_status'), 'f',
	'pgbk_archive_status no longer says the recovery point is broken');
$node->command_ok([ 'pgbench', '-t', '300', '-c', '2', '-j', '2', 'postgres' ], 'more writes');
PgbkTest::switch_and_wait_archived($node);
my $expected = PgbkTest::table_digests($node);

command_like([ 'pgbk', '--config', $conf_file, 'list' ], qr/^archive gap: timeline 1: \Q$first\E .*covered by backup \Q$catch_up\E/m,
	'pgbk list shows the gap and what covers it');
my ($out, $err);
IPC::Run::run([ 'pgbk', '--config', $conf_file, 'verify' ], '>', \$out, '2>', \$err);
like($out, qr/^archive: missing timeline 1: \Q$first\E.*dropped on overflow/m, 'pgbk verify names the hole as a dropped gap');
$node->stop;

my $conf = $node->basedir . '/restore.conf';
PostgreSQL::Test::Utils::append_to_file($conf, PgbkTest::s3_conf($url, $ENV{PGBK_TEST_S3_ENDPOINT}));
my $target = PostgreSQL::Test::Cluster->new('overflow_pitr');
IPC::Run::run([ 'pgbk', '--config', $conf, 'restore', '--pgdata', $target->data_dir, '--target-time', $written_at ],
	'>', \$out, '2>', \$err);
like($err, qr/lies past the start of a gap in the archive \(timeline 1: \Q$first\E.*reachable: up to LSN .* from backup .*; or from .* on \(backup \Q$catch_up\E/s,
	'a target inside the gap is refused, naming the gap and the nearest points on each side');
ok(!-f $target->data_dir . '/PG_VERSION', 'nothing was restored for it');

my $restored = PgbkTest::restore_and_start_with([ '--config', $conf ], 'overflow_restored');
is_deeply(PgbkTest::table_digests($restored), $expected, 'restore latest (from the catch-up backup) is exact');
$restored->stop;
$handle->kill_kill;

done_testing();
