# OpenStack Swift's S3 layer as Debian 12 ships it (2.30, started by scripts/test.sh via
# test/s3/swift.sh): it answers a conditional PUT (If-None-Match: *) with 501
# NotImplemented. With pgbk.s3_conditional_writes = auto pgbk detects that once, says so
# once and checks with HEAD before each create-only write: WAL archiving, a backup,
# pgbk_set_target and a restore all work. With `on` the 501 is a permanent error: it
# fails at once (never retried for pgbk.s3_retry_timeout) and a fast shutdown does not
# wait on it. A store without conditional writes cannot arbitrate between nodes, so
# pgbk.backup_standby is refused there.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use PgbkTest;

plan skip_all => 'PGBK_TEST_SWIFT_ENDPOINT not set (scripts/test.sh starts Swift)'
  unless $ENV{PGBK_TEST_SWIFT_ENDPOINT};

my $bucket = 'pgbk-swift-' . $$;
my $swift_conf = sub {
	my ($prefix, $extra) = @_;
	return qq{
pgbk.repository = 's3://$bucket/$prefix'
pgbk.s3_endpoint = '$ENV{PGBK_TEST_SWIFT_ENDPOINT}'
pgbk.s3_uri_style = 'path'
pgbk.s3_access_key_id = '$ENV{PGBK_TEST_SWIFT_ACCESS_KEY}'
pgbk.s3_secret_access_key = '$ENV{PGBK_TEST_SWIFT_SECRET_KEY}'
pgbk.s3_retry_timeout = 30
} . ($extra // '');
};

my $node = PgbkTest::new_node('swift', extra_conf => $swift_conf->('main'));
command_ok([ 'pgbk', '--config', $node->data_dir . '/postgresql.conf', 'create-bucket' ], 'bucket created on Swift');
$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench data loaded');

# WAL archiving and a backup through the fallback.
PgbkTest::switch_and_wait_archived($node);
my $label = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
is($node->safe_psql('postgres', "SELECT status FROM pgbk_backups WHERE label = '$label'"), 'complete',
	'a backup into Swift is complete');
my $log = PostgreSQL::Test::Utils::slurp_file($node->logfile);
my @said = $log =~ /does not implement conditional writes/g;
ok(@said >= 1 && @said <= 2, 'the missing conditional writes are said once per process (archiver, worker): ' . scalar(@said));
like($log, qr/If-None-Match: \* answered HTTP 501 NotImplemented/, 'naming what the store answered');

# Through the fallback, identical WAL is accepted again and other content under an
# archived name is refused (archiving then stops until a superuser resumes it).
my $archived = $node->safe_psql('postgres', 'SELECT last_archived_wal FROM pg_stat_archiver');
my $pgconf = $node->data_dir . '/postgresql.conf';
my $copy = $node->basedir . "/$archived";
command_ok([ 'pgbk', '--config', $pgconf, 'wal-fetch', $archived, $copy ], "the archived $archived read back");
my ($push_out, $push_err) = ('', '');
ok(IPC::Run::run([ 'pgbk', '--config', $pgconf, 'wal-push', '--pgdata', $node->data_dir, $copy ], '>', \$push_out, '2>', \$push_err),
	'the same WAL pushed again is accepted');
like($push_err, qr/\Q$archived\E was already archived with identical content/, 'as identical content');
open(my $fh, '+<', $copy) or die "open $copy: $!";
binmode $fh;
seek($fh, 8192 + 100, 0);
print $fh 'X';
close $fh;
ok(!IPC::Run::run([ 'pgbk', '--config', $pgconf, 'wal-push', '--pgdata', $node->data_dir, $copy ], '>', \$push_out, '2>', \$push_err),
	'other content under an archived name is refused');
like($push_err, qr/\Q$archived\E is already archived .* with different content/, 'naming the file and the reason');
ok(-e $node->data_dir . '/pgbk.archive_stopped', 'and archiving stops');
$node->safe_psql('postgres', 'SELECT pgbk_archive_resume()');
$node->command_ok([ 'pgbench', '-t', '200', '-c', '2', 'postgres' ], 'writes after the backup');
$node->safe_psql('postgres', "CREATE TABLE after_backup AS SELECT g, md5(g::text) FROM generate_series(1, 3000) g");
my $expected = PgbkTest::table_digests($node);
PgbkTest::switch_and_wait_archived($node);

# pgbk_set_target proves a Swift target and says how create-only writes are enforced.
my $json = qq({"endpoint": "$ENV{PGBK_TEST_SWIFT_ENDPOINT}", "uri_style": "path", "access_key_id": "$ENV{PGBK_TEST_SWIFT_ACCESS_KEY}", "secret_access_key": "$ENV{PGBK_TEST_SWIFT_SECRET_KEY}", "part_size": "5MB"});
my $result = $node->safe_psql('postgres', "SELECT pgbk_set_target('s3://$bucket/other', '$json')");
like($result, qr/verified .* create-only writes: checked with HEAD before each write.*the store lacks conditional writes/,
	'pgbk_set_target reports that the target needs the fallback (and takes "5MB")');
$node->safe_psql('postgres', "SELECT pgbk_set_target('s3://$bucket/main', '$json')");

# backup_standby needs the store to arbitrate between nodes: refused here.
$node->append_conf('postgresql.conf', "pgbk.backup_standby = prefer\npgbk.test_primary_grace = 1\npgbk.full_schedule = '* * * * *'\n");
$node->reload;
PgbkTest::wait_for(sub { PostgreSQL::Test::Utils::slurp_file($node->logfile) =~ /pgbk.backup_standby = prefer needs a store with conditional writes/ },
	'a scheduled run with pgbk.backup_standby on a store without conditional writes is refused, saying why');
$node->append_conf('postgresql.conf', "pgbk.backup_standby = off\npgbk.full_schedule = ''\n");
$node->reload;
$node->stop;

# The restore reads Swift through the CLI.
my $conf = $node->basedir . '/cli.conf';
PostgreSQL::Test::Utils::append_to_file($conf, $swift_conf->('main'));
my $restored = PgbkTest::restore_and_start_with([ '--config', $conf ], 'swiftrestored');
is_deeply(PgbkTest::table_digests($restored), $expected, 'data restored from Swift is identical');
$restored->stop;

# With pgbk.s3_conditional_writes = on the 501 is permanent: no retries, no wait.
my $strict = PgbkTest::new_node('swiftstrict', extra_conf => $swift_conf->('strict', "pgbk.s3_conditional_writes = on\n"));
$strict->safe_psql('postgres', 'SELECT pg_switch_wal()');
PgbkTest::wait_for(sub { PostgreSQL::Test::Utils::slurp_file($strict->logfile) =~ /does not implement conditional writes .*pgbk.s3_conditional_writes = on/ },
	'with conditional writes on, archiving fails naming the setting');
my $strict_log = PostgreSQL::Test::Utils::slurp_file($strict->logfile);
unlike($strict_log, qr/failed after \d+ attempt/, 'the permanent error was not retried');
# A fast shutdown does not wait on retries: stop() returns (pg_ctl's own deadline is
# generous; how long it takes is bench/'s to measure, not a test's).
$strict->stop('fast');
ok(!-e $strict->data_dir . '/postmaster.pid', 'a fast shutdown with a permanent error pending completes');

my ($out, $err) = ('', '');
IPC::Run::run([ 'pgbk', '--config', $conf, 'check-store', '--large-object-mb', '12' ], '>', \$out, '2>', \$err);
like($out, qr/ok   create-only write .*checked with HEAD.*\nok   ranged read.*the store passed every check/s, 'pgbk check-store passes on Swift');
like($err, qr/does not implement conditional writes \(PutObject with If-None-Match: \* answered HTTP 501/,
	'and says what it found missing');

done_testing();
