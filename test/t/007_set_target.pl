# pgbk_set_target(): proves a target with a probe round trip before adopting it; a
# failed probe changes nothing and says why; a good one is persisted like ALTER SYSTEM,
# reloaded, and used. Runs as a non-superuser member of pgbk_operator.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

plan skip_all => 'PGBK_TEST_S3_ENDPOINT not set (scripts/test.sh starts radosgw)'
  unless $ENV{PGBK_TEST_S3_ENDPOINT};

# No statement logging: the function's arguments carry the secret.
my $node = PgbkTest::new_node('target', extra_conf => "log_statement = none\n");
my $bucket = 'pgbk-target-' . $$;
{
	local $ENV{AWS_ENDPOINT_URL} = $ENV{PGBK_TEST_S3_ENDPOINT};
	local $ENV{AWS_ACCESS_KEY_ID} = $ENV{PGBK_TEST_S3_ACCESS_KEY};
	local $ENV{AWS_SECRET_ACCESS_KEY} = $ENV{PGBK_TEST_S3_SECRET_KEY};
	my $conf = $node->basedir . '/cli.conf';
	PostgreSQL::Test::Utils::append_to_file($conf, "pgbk.repository = 's3://$bucket'\npgbk.s3_uri_style = 'path'\n");
	command_ok([ 'pgbk', '--config', $conf, 'create-bucket' ], 'bucket created');
}
$node->safe_psql('postgres', 'CREATE ROLE ops LOGIN IN ROLE pgbk_operator');

sub set_target
{
	my ($url, $options) = @_;
	return $node->psql('postgres', "SELECT pgbk_set_target('$url', '$options')", extra_params => [ '-U', 'ops' ]);
}

my $good = qq{"endpoint": "$ENV{PGBK_TEST_S3_ENDPOINT}", "uri_style": "path", "access_key_id": "$ENV{PGBK_TEST_S3_ACCESS_KEY}"};
my ($ret, $out, $err);

($ret, $out, $err) = set_target("s3://$bucket/main", qq({$good, "secret_access_key": "wrong-secret"}));
isnt($ret, 0, 'a wrong secret is refused');
like($err, qr/probe write of s3:\/\/\Q$bucket\E\/main failed: .*SignatureDoesNotMatch.*\n.*HINT:  Nothing was changed/,
	'and the reason is the signature');

($ret, $out, $err) = set_target("s3://$bucket-missing/main", qq({$good, "secret_access_key": "$ENV{PGBK_TEST_S3_SECRET_KEY}"}));
like($err, qr/bucket "\Q$bucket\E-missing" does not exist/, 'a missing bucket is named');

($ret, $out, $err) = set_target("s3://$bucket/main",
	qq({"endpoint": "http://127.0.0.1:1", "uri_style": "path", "retry_timeout": 1}));
like($err, qr/probe write .* failed after \d+ attempt/, 'an unreachable endpoint is reported after bounded retries');

($ret, $out, $err) = set_target("s3://$bucket/main", qq({"endpiont": "x"}));
like($err, qr/unknown option "endpiont"; valid options: endpoint, region/, 'a misspelled option is named');

is($node->safe_psql('postgres', 'SHOW pgbk.repository'), '', 'failed probes changed nothing');

($ret, $out, $err) = set_target("s3://$bucket/main", qq({$good, "secret_access_key": "$ENV{PGBK_TEST_S3_SECRET_KEY}"}));
is($ret, 0, 'a good target is accepted by a non-superuser operator') or diag($err);
like($out, qr/s3:\/\/\Q$bucket\E\/main verified \(write, read, list, delete\) and saved; configuration reloaded/,
	'and reported');
$node->poll_query_until('postgres', "SELECT current_setting('pgbk.repository') = 's3://$bucket/main'")
  or die 'the new target was not reloaded';
is($node->safe_psql('postgres', 'SHOW pgbk.s3_secret_access_key'), '(hidden)', 'the secret is hidden');
like(PostgreSQL::Test::Utils::slurp_file($node->data_dir . '/postgresql.auto.conf'),
	qr/pgbk.s3_uri_style = 'path'/, 'persisted like ALTER SYSTEM');

my $label = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
is($node->safe_psql('postgres', "SELECT status FROM pgbk_backups WHERE label = '$label'"), 'complete',
	'the next backup goes to the new target');
$node->stop;
unlike(PostgreSQL::Test::Utils::slurp_file($node->logfile), qr/\Q$ENV{PGBK_TEST_S3_SECRET_KEY}\E/,
	'the secret never reaches the server log');

done_testing();
