# The repository becomes unwritable: PostgreSQL keeps serving, archiving fails with
# a WARNING and retries; when it is writable again the backlog drains, nothing is
# lost, and a restore replays to the end.
use strict;
use warnings;

use File::Find;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

plan skip_all => 'permissions do not bind root' if $> == 0;

my $node = PgbkTest::new_node('outage');
my $repo = PgbkTest::repo($node);
$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench data loaded');
my $label = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
PgbkTest::switch_and_wait_archived($node);

sub set_repo_mode
{
	my ($mode) = @_;
	find({ wanted => sub { chmod $mode, $_ if -d $_ }, no_chdir => 1 }, $repo);
}

set_repo_mode(0500);
my $failed_before = $node->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver');
$node->safe_psql('postgres', 'CREATE TABLE during_outage (id int, v text)');
my $last;
for my $round (1 .. 3)
{
	$node->safe_psql('postgres', "INSERT INTO during_outage SELECT g, md5(g::text) FROM generate_series(1, 20000) g");
	$last = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
}
$node->poll_query_until('postgres', "SELECT failed_count > $failed_before FROM pg_stat_archiver")
  or die 'archiving did not fail';
ok($node->log_contains(qr/WARNING:  pgbk: could not archive "[0-9A-F]{24}": .*Permission denied/),
	'the failure is a WARNING with the reason');
is($node->safe_psql('postgres', 'SELECT count(*) FROM during_outage'), '60000', 'the server keeps serving');
like($node->safe_psql('postgres', 'SELECT last_failed_wal || \': \' || last_failure FROM pgbk_archive_status'),
	qr/^[0-9A-F]{24}: .*Permission denied/, 'pgbk_archive_status shows the failing segment and why');
is($node->safe_psql('postgres', 'SELECT pending_segments >= 1 AND lag_bytes > 0 FROM pgbk_archive_status'), 't',
	'pgbk_archive_status shows the backlog and the lag');
ok($node->safe_psql('postgres', "SELECT last_archived_wal < '$last' FROM pg_stat_archiver") eq 't',
	'segments are held back while the repository is unwritable');

set_repo_mode(0700);
$node->poll_query_until('postgres', "SELECT last_archived_wal >= '$last' FROM pg_stat_archiver")
  or die 'backlog did not drain';
pass('backlog drained after the repository became writable');
is($node->safe_psql('postgres', "SELECT last_archived_wal >= '$last' FROM pgbk_archive_status"), 't',
	'pgbk_archive_status shows the drained backlog');

# Every segment from the first to the last is in the repository and intact.
my $walsegs = $node->safe_psql('postgres',
	"SELECT string_agg(name, ' ' ORDER BY name) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}\$' AND name <= '$last'");
my $first = 1;
my ($tli_log) = $last =~ /^([0-9A-F]{16})/;
my $last_seg = hex(substr($last, 16, 8));
my $missing = 0;
for my $seg (1 .. $last_seg)
{
	my $name = sprintf('%s%08X', $tli_log, $seg);
	my $dest = $node->basedir . "/fetched";
	my $rc = system('pgbk', '--repo', $repo, 'wal-fetch', $name, $dest);
	$missing++ if $rc != 0;
}
is($missing, 0, "all segments up to $last are archived and verify");

my $expected = PgbkTest::table_digests($node);
PgbkTest::switch_and_wait_archived($node);
$node->stop;
my $restored = PgbkTest::restore_and_start($repo, 'after_outage');
is_deeply(PgbkTest::table_digests($restored), $expected, 'restore replays through the outage with nothing lost');
$restored->stop;

done_testing();
