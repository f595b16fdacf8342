# A reload that changes what the archiver uses takes effect for the next segment,
# without a restart: started with a wrong S3 secret, archiving fails and
# pgbk_archive_status says why; ALTER SYSTEM + pg_reload_conf() with the right one and
# the next segment is archived. The same for the endpoint, away and back.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

plan skip_all => 'PGBK_TEST_S3_ENDPOINT not set (scripts/test.sh starts radosgw)'
  unless $ENV{PGBK_TEST_S3_ENDPOINT};

my $bucket = 'pgbk-reload-' . $$;
PgbkTest::create_bucket(PostgreSQL::Test::Utils::tempdir(), $bucket);

# No statement logging: ALTER SYSTEM statements carry the secret. The wrong secret comes
# after the right one (later settings win).
my $node = PgbkTest::new_node('reload', extra_conf => "log_statement = none\n"
	  . PgbkTest::s3_conf("s3://$bucket/reload", $ENV{PGBK_TEST_S3_ENDPOINT},
		"pgbk.s3_secret_access_key = 'not-the-secret'\npgbk.s3_retry_timeout = '2s'\n"));

# The segment just completed, once the archiver has reported on it.
sub switch_wal
{
	$node->safe_psql('postgres', 'CREATE TABLE IF NOT EXISTS t (x int); INSERT INTO t VALUES (1)');
	return $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
}

sub wait_failed
{
	my ($walfile, $why) = @_;
	ok($node->poll_query_until('postgres',
		"SELECT last_failed_wal >= '$walfile' AND last_failure ~ '$why' FROM pgbk_archive_status"),
		"$walfile fails to archive, and pgbk_archive_status says why ($why)")
	  or diag($node->safe_psql('postgres', 'SELECT * FROM pgbk_archive_status'));
}

sub wait_archived
{
	my ($walfile, $what) = @_;
	ok($node->poll_query_until('postgres',
		"SELECT coalesce(last_archived_wal >= '$walfile', false) FROM pg_stat_archiver"), $what)
	  or diag($node->safe_psql('postgres', 'SELECT * FROM pgbk_archive_status'));
}

sub reload_with
{
	my ($setting, $value) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET $setting = '$value'");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
}

my $first = switch_wal();
wait_failed($first, 'access denied|SignatureDoesNotMatch');
is($node->safe_psql('postgres', 'SELECT last_archived_wal IS NULL FROM pgbk_archive_status'), 't',
	'nothing was archived with the wrong secret');

reload_with('pgbk.s3_secret_access_key', $ENV{PGBK_TEST_S3_SECRET_KEY});
wait_archived($first, 'after a reload with the right secret, the waiting segment is archived (no restart)');
my $second = switch_wal();
wait_archived($second, 'and the next one');

# The endpoint: to a closed port and back.
my $failed_before = $node->safe_psql('postgres', 'SELECT last_failed_wal FROM pgbk_archive_status');
reload_with('pgbk.s3_endpoint', 'http://127.0.0.1:1');
# The archiver rereads its settings on its own time: the first segment after the reload
# may still reach the bucket.
PgbkTest::switch_wal_until($node,
	"SELECT last_failed_wal > '$failed_before' AND last_failure ~ 'failed after' FROM pgbk_archive_status",
	'with the endpoint on a closed port, archiving fails, and pgbk_archive_status says why');
my $third = $node->safe_psql('postgres', 'SELECT last_failed_wal FROM pgbk_archive_status');
reload_with('pgbk.s3_endpoint', $ENV{PGBK_TEST_S3_ENDPOINT});
wait_archived($third, 'after a reload with the endpoint back, archiving resumes');

# What was archived is in the bucket, under the settings now in effect.
my $fetched = $node->basedir . '/fetched';
command_ok([ 'pgbk', '--config', $node->data_dir . '/postgresql.conf', 'wal-fetch', '--prefetch', '0', $second, $fetched ],
	'the segment archived after the reload is in the repository');
is(-s $fetched, 16 * 1024 * 1024, 'whole');

$node->stop;
unlike(slurp_file($node->logfile), qr/\Q$ENV{PGBK_TEST_S3_SECRET_KEY}\E/, 'the secret never reaches the server log');

done_testing();
