# The repository becomes unwritable (read-only): PostgreSQL keeps serving and the
# archive module spools WAL beside the data directory with one WARNING naming the
# reason, so nothing waits in pg_wal; when the repository is writable again the spool
# drains into it by itself, nothing is lost, and a restore replays to the end.
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
$node->safe_psql('postgres', 'CREATE TABLE during_outage (id int, v text)');
my $last;
for my $round (1 .. 3)
{
	$node->safe_psql('postgres', "INSERT INTO during_outage SELECT g, md5(g::text) FROM generate_series(1, 20000) g");
	$last = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
}
ok($node->poll_query_until('postgres', "SELECT spool_segments >= 3 AND pending_segments = 0 FROM pgbk_archive_status"),
	'the WAL goes to the spool: nothing waits in pg_wal')
  or diag($node->safe_psql('postgres', 'SELECT * FROM pgbk_archive_status'));
ok($node->log_contains(qr/WARNING:  pgbk: the repository is unreachable; WAL is spooled from "[0-9A-F]{24}" on\n.*DETAIL:  .*Permission denied/),
	'one WARNING says so, with the reason');
is($node->safe_psql('postgres', 'SELECT count(*) FROM during_outage'), '60000', 'the server keeps serving');
like($node->safe_psql('postgres', 'SELECT last_failure FROM pgbk_archive_status'),
	qr/^spooled \(\d+ files, \d+ MB in the spool\): .*Permission denied/, 'pgbk_archive_status shows why');

set_repo_mode(0700);
ok($node->poll_query_until('postgres', "SELECT spool_segments = 0 FROM pgbk_archive_status"),
	'the spool drains once the repository is writable again')
  or diag($node->safe_psql('postgres', 'SELECT * FROM pgbk_archive_status'));

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
