# The object store becomes unreachable while the database works: PostgreSQL keeps
# serving, pgbk_archive_status shows the failure and the backlog; when the store comes
# back the backlog drains, and a restore replays to the end with nothing lost. Without
# the spool (pgbk.spool_limit = 0; 022 tests it) the backlog is in pg_wal.
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
my $bucket = 'pgbk-outage-' . $$;
my $url = "s3://$bucket/cluster";
# Give up on a request after 2 s so the archiver reports the outage quickly.
my $node = PgbkTest::new_node('outage_s3',
	extra_conf => PgbkTest::s3_conf($url, $endpoint, "pgbk.s3_retry_timeout = 2\npgbk.spool_limit = 0\n"));
PgbkTest::create_bucket($node->basedir, $bucket);
$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench data loaded');
my $label = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
PgbkTest::switch_and_wait_archived($node);

# The store goes away: every connection is dropped.
$proxy->('PUT', '/rules', encode_json([ { action => 'refuse', times => 1000000 } ]));
$node->command_ok([ 'pgbench', '-t', '1000', '-c', '2', '-j', '2', 'postgres' ], 'pgbench keeps running during the outage');
my $last;
$last = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())') for 1 .. 2;
$node->poll_query_until('postgres', "SELECT last_failed_wal IS NOT NULL FROM pgbk_archive_status")
  or die 'the outage was not reported';
like($node->safe_psql('postgres', 'SELECT last_failure FROM pgbk_archive_status'),
	qr/failed after \d+ attempt/, 'pgbk_archive_status says why archiving fails');
is($node->safe_psql('postgres', 'SELECT pending_segments > 0 FROM pgbk_archive_status'), 't',
	'and shows the backlog');
is($node->safe_psql('postgres', "SELECT count(*) > 0 FROM pgbench_history"), 't', 'the server keeps serving');

# The store comes back: the backlog drains.
$proxy->('DELETE', '/rules');
my $expected = PgbkTest::table_digests($node);
PgbkTest::switch_and_wait_archived($node);
is($node->safe_psql('postgres', 'SELECT pending_segments FROM pgbk_archive_status'), '0', 'backlog drained');
$node->stop;

my $conf = $node->basedir . '/restore.conf';
PostgreSQL::Test::Utils::append_to_file($conf, PgbkTest::s3_conf($url, $ENV{PGBK_TEST_S3_ENDPOINT}));
my $restored = PgbkTest::restore_and_start_with([ '--config', $conf ], 'outage_restored');
is_deeply(PgbkTest::table_digests($restored), $expected, 'replayed to the end: nothing lost');
$restored->stop;
$handle->kill_kill;

done_testing();
