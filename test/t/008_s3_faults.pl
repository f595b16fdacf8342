# S3 faults between pgbk and the store (a proxy injects them): 503 SlowDown bursts,
# 500s, connection resets in the middle of multipart part uploads, stalls, truncated
# and reset downloads. Afterwards nothing is lost, nothing is corrupt, and the backup
# restores to identical data.
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
my $bucket = 'pgbk-faults-' . $$;
my $url = "s3://$bucket/cluster";
# No compression and 5 MB parts: the 51 MB accounts file goes up as a multipart upload.
my $node = PgbkTest::new_node('faulty',
	extra_conf => PgbkTest::s3_conf($url, $endpoint, "pgbk.compression = none\npgbk.s3_part_size = 5MB\n"));
PgbkTest::create_bucket($node->basedir, $bucket);
$node->command_ok([ 'pgbench', '-i', '-s', '4', '-q', 'postgres' ], 'pgbench data loaded');

my $rules = encode_json([
	{ method => 'PUT', path => 'partNumber=', action => 'status', status => 503, code => 'SlowDown', times => 3 },
	{ method => 'PUT', path => 'partNumber=', action => 'reset', after_bytes => 1000000, times => 2, skip => 2 },
	{ method => 'PUT', action => 'status', status => 500, times => 2, skip => 30 },
	{ method => 'POST', path => 'uploadId=', action => 'status', status => 503, code => 'SlowDown', times => 1 },
	{ method => 'PUT', action => 'delay', ms => 1500, times => 1, skip => 60 },
]);
$proxy->('PUT', '/rules', $rules);
my $label = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
is($node->safe_psql('postgres', "SELECT status FROM pgbk_backups WHERE label = '$label'"), 'complete',
	'the backup completes through the faults');
my $log = $proxy->('GET', '/log');
my %injected;
$injected{$_->{action}}++ for map { decode_json($_) } grep { /\S/ } split /\n/, $log;
is($injected{status}, 6, '503/500 responses were injected');
is($injected{reset}, 2, 'connections were reset in the middle of part uploads');
is($injected{delay}, 1, 'a request was stalled');

$node->command_ok([ 'pgbench', '-t', '300', 'postgres' ], 'writes after the backup');
my $expected = PgbkTest::table_digests($node);
PgbkTest::switch_and_wait_archived($node);
$node->stop;

# Downloads fail too: truncated bodies, resets, SlowDown.
$proxy->('DELETE', '/rules');
$proxy->('PUT', '/rules', encode_json([
	{ method => 'GET', action => 'truncate', after_bytes => 100000, times => 3, skip => 5 },
	{ method => 'GET', action => 'reset', times => 2, skip => 20 },
	{ method => 'GET', action => 'status', status => 503, code => 'SlowDown', times => 2, skip => 40 },
]));
my $conf = $node->basedir . '/restore.conf';
PostgreSQL::Test::Utils::append_to_file($conf, PgbkTest::s3_conf($url, $endpoint));
my $restored = PgbkTest::restore_and_start_with([ '--config', $conf ], 'faulty_restored');
like($proxy->('GET', '/log'), qr/"action":"truncate"/, 'truncated downloads were injected');
is_deeply(PgbkTest::table_digests($restored), $expected, 'nothing lost, nothing corrupt: identical data');
$restored->stop;
$handle->kill_kill;

done_testing();
