# A store outage during recovery (issue 26). PostgreSQL reads any failure of
# restore_command as "no such file": archive recovery (a restore) would take an outage
# for the end of the archive and promote there, silently short of the WAL it never got.
# wal-fetch in archive recovery therefore waits for the repository to answer; once it
# does, the restore replays to the end and holds exactly the source's data.
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
my $bucket = 'pgbk-fetch-outage-' . $$;
my $url = "s3://$bucket/cluster";
my $node = PgbkTest::new_node('fetch_outage',
	extra_conf => PgbkTest::s3_conf($url, $endpoint, "pgbk.s3_retry_timeout = 2\n"));
PgbkTest::create_bucket($node->basedir, $bucket);
$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench data loaded');
my $label = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
# Segments after the backup's end; the store will refuse to serve the first of them.
my $late = PgbkTest::switch_and_wait_archived($node);
for my $round (1 .. 2)
{
	$node->command_ok([ 'pgbench', '-t', '300', '-c', '2', 'postgres' ], "pgbench writes after the backup ($round)");
	PgbkTest::switch_and_wait_archived($node);
}
my $expected = PgbkTest::table_digests($node);
PgbkTest::switch_and_wait_archived($node);
$node->stop;

# Reads of that segment fail as an unreachable store does (the connection dropped).
$proxy->('PUT', '/rules', encode_json([ { method => 'GET', path => $late, action => 'refuse', times => 1000000 } ]));
my $copy = PostgreSQL::Test::Cluster->new('fetch_outage_copy');
my $conf = $node->basedir . '/restore.conf';
PostgreSQL::Test::Utils::append_to_file($conf, PgbkTest::s3_conf($url, $endpoint, "pgbk.s3_retry_timeout = 2\n"));
command_ok([ 'pgbk', '--config', $conf, 'restore', '--pgdata', $copy->data_dir, '--backup', $label ],
	'a restore through the faulty store');
$copy->append_conf('postgresql.conf', "port = " . $copy->port . "\nunix_socket_directories = '" . $copy->host . "'\n");
$copy->start;
PgbkTest::wait_for(sub { $copy->log_contains(qr/WAL file \Q$late\E: the repository did not answer .* retrying in \d+ s/) },
	'wal-fetch reports the outage and waits');
is($copy->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't',
	'recovery did not take the outage for the end of the archive: it is still recovering');

# The store answers again: recovery goes on to the real end of the archive.
$proxy->('DELETE', '/rules');
$copy->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'the copy did not finish recovery';
is_deeply(PgbkTest::table_digests($copy), $expected, 'replayed to the end: nothing lost to the outage');
$copy->stop;
$handle->kill_kill;

done_testing();
