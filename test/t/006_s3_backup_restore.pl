# The end-to-end loop on an encrypted S3 repository (radosgw on loopback, started by
# scripts/test.sh): WAL archived and a backup taken into the bucket, then restored with
# the CLI from nothing but the bucket and the key, replayed, and compared.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

plan skip_all => 'PGBK_TEST_S3_ENDPOINT not set (scripts/test.sh starts radosgw)'
  unless $ENV{PGBK_TEST_S3_ENDPOINT};

my $bucket = 'pgbk-tap-' . $$;
my $keys = PostgreSQL::Test::Utils::tempdir();
command_ok([ 'pgbk', 'generate-key', "$keys/repo.key" ], 'key generated');
my $s3_conf = qq{
pgbk.encryption_key_file = '$keys/repo.key'
pgbk.repository = 's3://$bucket/cluster-one'
pgbk.s3_endpoint = '$ENV{PGBK_TEST_S3_ENDPOINT}'
pgbk.s3_uri_style = 'path'
pgbk.s3_access_key_id = '$ENV{PGBK_TEST_S3_ACCESS_KEY}'
pgbk.s3_secret_access_key = '$ENV{PGBK_TEST_S3_SECRET_KEY}'
};

my $node = PgbkTest::new_node('s3source', extra_conf => $s3_conf);
command_ok([ 'pgbk', '--config', $node->data_dir . '/postgresql.conf', 'create-bucket' ], 'bucket created');
$node->command_ok([ 'pgbench', '-i', '-s', '3', '-q', 'postgres' ], 'pgbench data loaded');

is($node->safe_psql('postgres', 'SHOW pgbk.s3_secret_access_key'), '(hidden)', 'the secret is never shown');
my $label = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
is($node->safe_psql('postgres', "SELECT status FROM pgbk_backups WHERE label = '$label'"), 'complete',
	'backup into S3 is complete');

$node->command_ok([ 'pgbench', '-t', '300', '-c', '2', '-j', '2', 'postgres' ], 'writes after the backup');
$node->safe_psql('postgres', "CREATE TABLE after_backup AS SELECT g, md5(g::text) FROM generate_series(1, 5000) g");
my $expected = PgbkTest::table_digests($node);
PgbkTest::switch_and_wait_archived($node);
$node->stop;
unlike(PostgreSQL::Test::Utils::slurp_file($node->logfile), qr/\Q$ENV{PGBK_TEST_S3_SECRET_KEY}\E/,
	'the secret never reaches the server log');

# Restore from nothing but the bucket: the settings come from the environment.
my $restored;
{
	local $ENV{AWS_ENDPOINT_URL} = $ENV{PGBK_TEST_S3_ENDPOINT};
	local $ENV{AWS_ACCESS_KEY_ID} = $ENV{PGBK_TEST_S3_ACCESS_KEY};
	local $ENV{AWS_SECRET_ACCESS_KEY} = $ENV{PGBK_TEST_S3_SECRET_KEY};
	# Path-style addressing for the loopback server comes through a one-line config.
	my $nokey = $node->basedir . '/cli-nokey.conf';
	PostgreSQL::Test::Utils::append_to_file($nokey, "pgbk.repository = 's3://$bucket/cluster-one'\npgbk.s3_uri_style = 'path'\n");
	command_fails_like([ 'pgbk', '--config', $nokey, 'list' ], qr/is encrypted/,
		'the bucket is encrypted: without the key nothing is listed');
	my $conf = $node->basedir . '/cli.conf';
	PostgreSQL::Test::Utils::append_to_file($conf, "pgbk.repository = 's3://$bucket/cluster-one'\npgbk.s3_uri_style = 'path'\n"
		  . "pgbk.encryption_key_file = '$keys/repo.key'\n");
	$restored = PgbkTest::restore_and_start_with([ '--config', $conf ], 's3restored');
}
my $secrets = $restored->data_dir . '.pgbk-secrets.conf';
like(PostgreSQL::Test::Utils::slurp_file($restored->data_dir . '/postgresql.auto.conf'),
	qr/restore_command = .*--config .*\Q$secrets\E.* wal-fetch --segment-size 16777216 %f %p/,
	'wal-fetch reads the carried settings from the secrets file beside the data directory');
unlike(PostgreSQL::Test::Utils::slurp_file($restored->data_dir . '/postgresql.auto.conf'),
	qr/\Q$ENV{PGBK_TEST_S3_SECRET_KEY}\E/, 'the secret is not in the restored data directory (nor in its backups)');
like(PostgreSQL::Test::Utils::slurp_file($secrets), qr/pgbk.s3_secret_access_key = '\Q$ENV{PGBK_TEST_S3_SECRET_KEY}\E'/,
	'it is in the secrets file');
is((stat($secrets))[2] & 07777, 0600, 'which only its owner can read');
is_deeply(PgbkTest::table_digests($restored), $expected, 'data restored from S3 is identical');
is($restored->safe_psql('postgres', "SELECT count(*) FROM pgbk_backups WHERE label = '$label'"), '1',
	'the restored cluster sees the backup in the bucket');
$restored->stop;

done_testing();
