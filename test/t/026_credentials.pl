# A server without static S3 keys: pgbk.s3_access_key_id is empty, and the credentials
# come from the container credential endpoint named in the server's environment (EKS
# Pod Identity's protocol, served by test/s3/credential-endpoints.py with an
# authorization token file). They live 8 s, so WAL archiving and a backup that take
# longer run on renewed credentials, with no reload; then the CLI restores with the
# same chain.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HTTP::Tiny;
use IPC::Run;
use PgbkTest;

plan skip_all => 'PGBK_TEST_S3_ENDPOINT not set (scripts/test.sh starts radosgw)'
  unless $ENV{PGBK_TEST_S3_ENDPOINT};

my $bucket = 'pgbk-creds-' . $$;
PgbkTest::create_bucket(PostgreSQL::Test::Utils::tempdir(), $bucket);

my ($port_line, $stderr) = ('', '');
my $provider = IPC::Run::start(
	[ '/usr/bin/python3', 'test/s3/credential-endpoints.py', $ENV{PGBK_TEST_S3_ACCESS_KEY}, $ENV{PGBK_TEST_S3_SECRET_KEY}, '8' ],
	'>', \$port_line, '2>', \$stderr);
PgbkTest::wait_for(sub { $provider->pump_nb; $port_line =~ /^\d+\n/ }, 'the credential endpoints listen');
my ($port) = $port_line =~ /^(\d+)/;
my $http = HTTP::Tiny->new(timeout => 5);
my $issued = sub { $http->get("http://127.0.0.1:$port/count")->{content} };

my $tokens = PostgreSQL::Test::Utils::tempdir();
PostgreSQL::Test::Utils::append_to_file("$tokens/token", 'container-authorization-token');
my %chain = (
	AWS_CONTAINER_CREDENTIALS_FULL_URI => "http://127.0.0.1:$port/container",
	AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE => "$tokens/token");

my $conf = qq{
pgbk.repository = 's3://$bucket/main'
pgbk.s3_endpoint = '$ENV{PGBK_TEST_S3_ENDPOINT}'
pgbk.s3_uri_style = 'path'
};
my $node;
{
	local @ENV{ keys %chain } = values %chain;
	$node = PgbkTest::new_node('nokeys', extra_conf => $conf);
}
$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench data loaded');
PgbkTest::switch_and_wait_archived($node);
cmp_ok($issued->(), '>=', 1, 'the archiver fetched credentials from the container endpoint');
my $label = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
is($node->safe_psql('postgres', "SELECT status FROM pgbk_backups WHERE label = '$label'"), 'complete',
	'a backup signed with fetched credentials is complete');

# Keep archiving for longer than two lifetimes: the credentials are renewed underneath.
my $before = $issued->();
PgbkTest::wait_for(sub {
	$node->safe_psql('postgres', "CREATE TABLE IF NOT EXISTS t AS SELECT 1 AS a; INSERT INTO t SELECT generate_series(1, 1000)");
	PgbkTest::switch_and_wait_archived($node);
	return $issued->() >= $before + 2;
}, 'archiving across two credential renewals');
cmp_ok($issued->(), '>=', $before + 2, sprintf('renewed before they expired, with no reload (%d fetches in all)', $issued->()));
unlike(PostgreSQL::Test::Utils::slurp_file($node->logfile), qr/could not archive/, 'no archive attempt failed meanwhile');
my $expected = PgbkTest::table_digests($node);
$node->stop;

# The CLI resolves the same chain from its environment.
my $cli = $node->basedir . '/cli.conf';
PostgreSQL::Test::Utils::append_to_file($cli, $conf);
my $restored;
{
	local @ENV{ keys %chain } = values %chain;
	$restored = PgbkTest::restore_and_start_with([ '--config', $cli ], 'nokeysrestored');
}
is_deeply(PgbkTest::table_digests($restored), $expected, 'restored with fetched credentials: identical data');
$restored->stop;

# Without the token the endpoint refuses, and the error says where credentials came from.
{
	local $ENV{AWS_CONTAINER_CREDENTIALS_FULL_URI} = "http://127.0.0.1:$port/container";
	command_fails_like([ 'pgbk', '--config', $cli, 'list' ],
		qr/no S3 credentials from container credentials \(http:\/\/127\.0\.0\.1:\d+\/container\).*HTTP 401/,
		'a refused credential request is named');
}
$provider->kill_kill;

done_testing();
