# Repository outages and the WAL spool (issue 14): while the store refuses every
# connection, the archive module stores WAL in the local spool and acknowledges it, so
# pg_wal does not grow; a crash during the outage loses nothing; when the store answers
# again the spool drains by itself and a restore is exact. With the spool full, WAL
# waits in pg_wal as without one; with spooling turned off, what the spool holds still
# drains.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use PgbkTest;

plan skip_all => 'PGBK_TEST_S3_ENDPOINT not set (scripts/test.sh starts radosgw)'
  unless $ENV{PGBK_TEST_S3_ENDPOINT};

my ($endpoint, $proxy, $handle) = PgbkTest::start_fault_proxy();
my $bucket = 'pgbk-spool-' . $$;
my $url = "s3://$bucket/cluster";
my $node = PgbkTest::new_node('spool_s3',
	extra_conf => PgbkTest::s3_conf($url, $endpoint, "pgbk.s3_retry_timeout = 2\nmax_wal_size = 64MB\npgbk.spool_limit = 1GB\nrestart_after_crash = on\n"));
PgbkTest::create_bucket($node->basedir, $bucket);
$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench data loaded');
$node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
PgbkTest::switch_and_wait_archived($node);
my $spool = $node->safe_psql('postgres', "SELECT setting FROM pg_settings WHERE name = 'data_directory'") =~ s{/[^/]+$}{}r
  . '/pgbk_spool-pgdata';

# The store goes away.
$proxy->('PUT', '/rules', encode_json([ { action => 'refuse', times => 1000000 } ]));
$node->command_ok([ 'pgbench', '-t', '2000', '-c', '2', '-j', '2', 'postgres' ], 'pgbench runs during the outage');
my $during = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
ok($node->poll_query_until('postgres',
	"SELECT spool_segments > 0 AND pending_segments = 0 FROM pgbk_archive_status"),
	'every WAL file is acknowledged into the spool: nothing waits in pg_wal')
  or diag($node->safe_psql('postgres', 'SELECT * FROM pgbk_archive_status'));
like($node->safe_psql('postgres', 'SELECT last_failure FROM pgbk_archive_status'),
	qr/^spooled \(\d+ files, \d+ MB in the spool\): /, 'pgbk_archive_status says WAL is being spooled, and why');
ok(-d "$spool/wal", "the spool is beside the data directory ($spool)");
my $log = PostgreSQL::Test::Utils::slurp_file($node->logfile);
my @warnings = $log =~ /WARNING:  pgbk: the repository is unreachable; WAL is spooled from/g;
is(scalar(@warnings), 1, 'one WARNING when spooling starts, not one per segment');

# A crash during the outage: nothing spooled is lost, nothing is spooled twice.
$node->stop('immediate');
$node->start;
$node->command_ok([ 'pgbench', '-t', '500', '-c', '2', '-j', '2', 'postgres' ], 'more writes after the crash');
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
ok($node->poll_query_until('postgres', "SELECT pending_segments = 0 FROM pgbk_archive_status"),
	'the spool still takes WAL after the crash');
my $expected = PgbkTest::table_digests($node);
my $spooled = $node->safe_psql('postgres', 'SELECT spool_segments FROM pgbk_archive_status');
note("spooled during the outage: $spooled WAL files");

# The store comes back: the spool drains into it by itself.
$proxy->('DELETE', '/rules');
ok($node->poll_query_until('postgres', "SELECT spool_segments = 0 FROM pgbk_archive_status"),
	'the spool drains once the store answers');
PgbkTest::switch_and_wait_archived($node);
command_like([ 'pgbk', '--config', $node->data_dir . '/postgresql.conf', 'verify' ], qr/^archive: continuous from /m,
	'every file reached the repository intact: the archive is continuous');

# kill -9 while the spool drains, of the archiver and then of the postmaster: what was
# moved stays moved, the rest drains after the restart, nothing is stored twice with
# other content (archiving never stops on a conflict) and nothing is lost (the restore
# below replays everything).
for my $victim ('archiver', 'postmaster')
{
	$proxy->('PUT', '/rules', encode_json([ { action => 'refuse', times => 1000000 } ]));
	$node->command_ok([ 'pgbench', '-t', '500', '-c', '2', '-j', '2', 'postgres' ], "writes before killing the $victim");
	for (1 .. 6)
	{
		$node->safe_psql('postgres',
			"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) SELECT 1, 1, g, 1, now() FROM generate_series(1, 20000) g");
		$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
	}
	ok($node->poll_query_until('postgres', 'SELECT spool_segments >= 6 AND pending_segments = 0 FROM pgbk_archive_status'),
		"WAL spooled before killing the $victim");
	my $held = $node->safe_psql('postgres', 'SELECT spool_segments FROM pgbk_archive_status');
	# The store answers again, slowly (each WAL upload waits 2 s): the drain is caught half-way.
	$proxy->('PUT', '/rules',
		encode_json([ { method => 'PUT', path => '/wal/', action => 'delay', ms => 2000, times => 1000000 } ]));
	ok($node->poll_query_until('postgres', "SELECT spool_segments < $held FROM pgbk_archive_status"),
		"the drain has begun ($held files spooled)");
	if ($victim eq 'archiver')
	{
		my $pid = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'archiver'");
		my $checkpointer =
		  $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'");
		kill 'KILL', $pid or die "kill archiver $pid: $!";
		# The postmaster reinitialises every process after a child's crash. A query may
		# still reach the old processes before the postmaster has seen the death: the
		# restart is over when a new checkpointer answers.
		ok(
			PgbkTest::wait_through_restart(
				$node, "SELECT pid <> $checkpointer FROM pg_stat_activity WHERE backend_type = 'checkpointer'",
				'a new checkpointer answers'),
			'the server is back after the archiver was killed');
	}
	else
	{
		# The postmaster and every process it started must be gone before a new one
		# starts on the same data directory (its lock file and shared memory).
		my $pm = $node->{_pid};
		my @children = split ' ', `ps -o pid= --ppid $pm`;
		$node->kill9;
		PgbkTest::wait_for(sub { !grep { kill 0, $_ } ($pm, @children) }, 'the killed postmaster and its children are gone');
		$node->start;
	}
	$proxy->('DELETE', '/rules');
	$node->command_ok([ 'pgbench', '-t', '200', '-c', '2', '-j', '2', 'postgres' ], "writes after killing the $victim");
	$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
	ok($node->poll_query_until('postgres', 'SELECT spool_segments = 0 AND pending_segments = 0 FROM pgbk_archive_status'),
		"the rest of the spool drains after the $victim was killed");
	is($node->safe_psql('postgres', "SELECT coalesce(stopped_reason, 'running') FROM pgbk_archive_status"), 'running',
		'no file was stored twice with other content: archiving never stopped on a conflict');
}
PgbkTest::switch_and_wait_archived($node);
command_like([ 'pgbk', '--config', $node->data_dir . '/postgresql.conf', 'verify' ], qr/^archive: continuous from /m,
	'after both kills the archive is continuous');

# Spooling turned off (pgbk.spool_limit = 0) during an outage, while the spool holds
# acknowledged WAL: new WAL waits in pg_wal, and what the spool holds still drains once
# the store answers (those files are in no pg_wal any more).
$proxy->('PUT', '/rules', encode_json([ { action => 'refuse', times => 1000000 } ]));
for (1 .. 2)
{
	$node->safe_psql('postgres', "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 1, 1, now())");
	$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
}
ok($node->poll_query_until('postgres', 'SELECT spool_segments >= 2 AND pending_segments = 0 FROM pgbk_archive_status'),
	'WAL spooled before spooling is turned off');
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbk.spool_limit = 0");
$node->reload;
PgbkTest::switch_wal_until($node,
	"SELECT last_failure ~ 'the spool is off \\(pgbk.spool_limit = 0\\); the \\d+ files it still holds drain' "
	  . "AND pending_segments > 0 AND spool_segments >= 2 FROM pgbk_archive_status",
	'with spooling off, new WAL waits in pg_wal and the spooled files stay');
$proxy->('DELETE', '/rules');
ok($node->poll_query_until('postgres', 'SELECT spool_segments = 0 AND pending_segments = 0 FROM pgbk_archive_status'),
	'once the store answers, the spool drains though spooling is off')
  or diag($node->safe_psql('postgres', 'SELECT * FROM pgbk_archive_status'));

# A spool too small for a segment: WAL waits in pg_wal, reported once.
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbk.spool_limit = '1MB'");
$node->reload;
$proxy->('PUT', '/rules', encode_json([ { action => 'refuse', times => 1000000 } ]));
PgbkTest::switch_wal_until($node, "SELECT last_failure ~ 'is full' AND pending_segments > 0 FROM pgbk_archive_status",
	'with the spool full, WAL stays in pg_wal and pgbk_archive_status says why');
$proxy->('DELETE', '/rules');
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbk.spool_limit = '1GB'");
$node->reload;
PgbkTest::switch_and_wait_archived($node);
$expected = PgbkTest::table_digests($node);
$node->stop;

my $conf = $node->basedir . '/restore.conf';
PostgreSQL::Test::Utils::append_to_file($conf, PgbkTest::s3_conf($url, $ENV{PGBK_TEST_S3_ENDPOINT}));
my $restored = PgbkTest::restore_and_start_with([ '--config', $conf ], 'spool_restored');
is_deeply(PgbkTest::table_digests($restored), $expected, 'a restore replays everything: nothing was lost');
$restored->stop;
$handle->kill_kill;

done_testing();
