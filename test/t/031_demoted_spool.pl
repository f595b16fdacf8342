# A switchover during a repository outage (issue 26). The old primary acknowledged WAL
# into its spool while the store refused every connection; demoted, it runs no archiver
# (archive_mode = on archives nothing during recovery), so the backup worker drains its
# spool once the store answers. Nothing before the fork is missing, and a restore to
# the end holds exactly the new primary's data.
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
my $bucket = 'pgbk-demoted-' . $$;
my $url = "s3://$bucket/cluster";
my $settings = PgbkTest::s3_conf($url, $endpoint, "pgbk.s3_retry_timeout = 2\npgbk.spool_limit = 1GB\n");
my $old = PgbkTest::new_node('old_primary', allows_streaming => 1, extra_conf => $settings);
PgbkTest::create_bucket($old->basedir, $bucket);
$old->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench data loaded');
$old->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
PgbkTest::switch_and_wait_archived($old);
$old->backup('base');
my $new = PostgreSQL::Test::Cluster->new('new_primary');
$new->init_from_backup($old, 'base', has_streaming => 1);
$new->start;
my $spool_of = sub {
	my ($node) = @_;
	return $node->safe_psql('postgres', "SELECT setting FROM pg_settings WHERE name = 'data_directory'") =~ s{/[^/]+$}{}r
	  . '/pgbk_spool-pgdata';
};
my $spool = $spool_of->($old);
my $spooled_files = sub { return scalar(() = glob("$spool/wal/*/*")); };

# The store goes away; the primary acknowledges WAL into its spool.
$proxy->('PUT', '/rules', encode_json([ { action => 'refuse', times => 1000000 } ]));
$old->command_ok([ 'pgbench', '-t', '1000', '-c', '2', 'postgres' ], 'pgbench during the outage');
$old->safe_psql('postgres', 'SELECT pg_switch_wal()') for 1 .. 2;
ok($old->poll_query_until('postgres', 'SELECT spool_segments > 0 AND pending_segments = 0 FROM pgbk_archive_status'),
	'the primary spools what the store refuses');

# Switchover during the outage: the old primary stops cleanly, the standby is promoted,
# and the old primary rejoins as its standby.
$old->wait_for_catchup($new);
$old->stop;
my $stranded = $spooled_files->();
ok($stranded > 0, "the old primary's spool holds $stranded acknowledged WAL files");
$new->promote;
$new->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'the standby was not promoted';
$old->enable_streaming($new);
$old->start;
is($old->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the old primary is now a standby');
$new->command_ok([ 'pgbench', '-t', '300', '-c', '2', 'postgres' ], 'the new primary writes');

# The store answers again: the demoted node's worker drains its spool.
$proxy->('DELETE', '/rules');
PgbkTest::wait_for(sub { $spooled_files->() == 0 }, "the demoted node's spool drains (no archiver runs there)");
ok($old->log_contains(qr/pgbk: moved \d+ WAL file\(s\) from the spool into the repository \(no archiver runs on this standby\)/),
	'its worker says so');
ok($new->poll_query_until('postgres', 'SELECT spool_segments = 0 FROM pgbk_archive_status'),
	"the new primary's own spool (its history file first) drains too");
PgbkTest::switch_and_wait_archived($new);
my $expected = PgbkTest::table_digests($new);
PgbkTest::switch_and_wait_archived($new);

my $conf = $new->basedir . '/cli.conf';
PostgreSQL::Test::Utils::append_to_file($conf, PgbkTest::s3_conf($url, $ENV{PGBK_TEST_S3_ENDPOINT}));
command_ok([ 'pgbk', '--config', $conf, 'verify' ], 'the repository verifies: no hole before the fork');
my $restored = PgbkTest::restore_and_start_with([ '--config', $conf ], 'demoted_restored');
is_deeply(PgbkTest::table_digests($restored), $expected, 'a restore to the end holds exactly the new primary\'s data');
$restored->stop;
$old->stop;
$new->stop;
$handle->kill_kill;

done_testing();
