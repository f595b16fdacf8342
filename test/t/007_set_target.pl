# pgbk_set_target(): proves a target with a probe round trip before adopting it; a
# failed probe changes nothing and says why; a good one is persisted like ALTER SYSTEM,
# reloaded, and used. A non-superuser member of pgbk_operator chooses only among the
# targets a superuser allowed (pgbk.allowed_targets), never the endpoint, TLS
# verification or CA file: the attack of pointing backups at a server of its own fails.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;
use IO::Socket::INET;

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

# The superuser decides where backups may go and how the store is reached.
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbk.allowed_targets = 's3://$bucket/'");
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbk.s3_endpoint = '$ENV{PGBK_TEST_S3_ENDPOINT}'");
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbk.s3_uri_style = 'path'");
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('pgbk.s3_uri_style') = 'path'") or die 'not reloaded';

my $good = qq{"access_key_id": "$ENV{PGBK_TEST_S3_ACCESS_KEY}"};
# A superuser gives everything (what is not given is reset).
my $full = qq{"endpoint": "$ENV{PGBK_TEST_S3_ENDPOINT}", "uri_style": "path", $good};
my ($ret, $out, $err);

# The attacks: another endpoint (a server of the operator's), TLS verification off, a CA
# of its own, a target outside the allowed ones, and ALTER SYSTEM on the settings.
my $listener = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die;
my $evil = 'http://127.0.0.1:' . $listener->sockport;
foreach my $option (qq{"endpoint": "$evil"}, qq{"verify_tls": false}, qq{"ca_file": "/tmp/evil-ca.pem"})
{
	($ret, $out, $err) = set_target("s3://$bucket/main", qq({$good, $option}));
	isnt($ret, 0, "the operator cannot set $option");
	like($err, qr/only a superuser sets pgbk\.s3_\w+ \(whoever controls the target can read all data\)/, 'and is told why');
}
$listener->blocking(0);
ok(!$listener->accept, 'no connection reached the operator\'s server');
($ret, $out, $err) = set_target("s3://$bucket-elsewhere/main", qq({$good}));
like($err, qr/is not among the targets a superuser allowed \(pgbk.allowed_targets = 's3:\/\/\Q$bucket\E\/'\)/,
	'a target outside pgbk.allowed_targets is refused');
foreach my $setting ('pgbk.repository', 'pgbk.s3_endpoint', 'pgbk.s3_verify_tls', 'pgbk.s3_ca_file')
{
	($ret, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET $setting = 'x'", extra_params => [ '-U', 'ops' ]);
	like($err, qr/permission denied to set parameter/, "the operator holds no ALTER SYSTEM on $setting");
}
($ret, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET pgbk.allowed_targets = 's3://'", extra_params => [ '-U', 'ops' ]);
like($err, qr/permission denied to set parameter/, 'nor on pgbk.allowed_targets');

($ret, $out, $err) = set_target("s3://$bucket/main", qq({$good, "secret_access_key": "wrong-secret"}));
isnt($ret, 0, 'a wrong secret is refused');
like($err, qr/probe write of s3:\/\/\Q$bucket\E\/main failed: .*SignatureDoesNotMatch.*\n.*HINT:  Nothing was changed/,
	'and the reason is the signature');

($ret, $out, $err) = $node->psql('postgres',
	qq{SELECT pgbk_set_target('s3://$bucket-missing/main', '{$full, "secret_access_key": "$ENV{PGBK_TEST_S3_SECRET_KEY}"}')});
like($err, qr/bucket "\Q$bucket\E-missing" does not exist/, 'a missing bucket is named');

($ret, $out, $err) = $node->psql('postgres',
	qq{SELECT pgbk_set_target('s3://$bucket/main', '{"endpoint": "http://127.0.0.1:1", "uri_style": "path", "retry_timeout": 1, "access_key_id": "AK", "secret_access_key": "SK"}')});
like($err, qr/probe write .* failed after \d+ attempt/,
	'an unreachable endpoint (a superuser\'s choice) is reported after bounded retries');

($ret, $out, $err) = $node->psql('postgres',
	qq{SELECT pgbk_set_target('s3://$bucket/main', '{"endpoint": "http://127.0.0.1:1", "uri_style": "path", "credentials": "static"}')});
like($err, qr/pgbk.s3_credentials = static needs pgbk.s3_access_key_id and pgbk.s3_secret_access_key/,
	'static credentials without keys are refused, naming the settings');

($ret, $out, $err) = set_target("s3://$bucket/main", qq({"endpiont": "x"}));
like($err, qr/unknown option "endpiont"; valid options: endpoint, region/, 'a misspelled option is named');

is($node->safe_psql('postgres', 'SHOW pgbk.repository'), '', 'failed probes changed nothing');

($ret, $out, $err) = set_target("s3://$bucket/main", qq({$good, "secret_access_key": "$ENV{PGBK_TEST_S3_SECRET_KEY}"}));
is($ret, 0, 'a good target is accepted by a non-superuser operator') or diag($err);
like($out, qr/s3:\/\/\Q$bucket\E\/main verified \(write, read, list, delete\) and saved; create-only writes: conditional writes \(If-None-Match: \*\)[^;]*; it takes effect at the next configuration reload/,
	'and reported: the operator gets no reload of everything pending (pg_reload_conf() is a superuser\'s)');
is($node->safe_psql('postgres', 'SHOW pgbk.repository'), '', 'so the server has not reloaded');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
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
