# A local repository that fills up (ENOSPC on a small tmpfs of its own) or goes
# missing (an unmounted volume) is an outage like an unreachable bucket (issue 14): WAL
# is spooled with the reason in pgbk_archive_status, nothing waits in pg_wal, a missing
# repository is never recreated empty, and when space or the directory comes back the
# spool drains by itself; the archive is continuous and a restore exact.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

plan skip_all => 'PGBK_TEST_SMALL_FS not set (scripts/test.sh mounts a small tmpfs for it)'
  unless $ENV{PGBK_TEST_SMALL_FS};

my $fs = $ENV{PGBK_TEST_SMALL_FS};
my $repo = "$fs/repo-$$";
my $filler = "$fs/filler-$$";
END { unlink $filler if $filler; }
my $node = PgbkTest::new_node('local_outages', extra_conf => "pgbk.repository = '$repo'\nmax_wal_size = 64MB\n");
$node->command_ok([ 'pgbench', '-i', '-s', '1', '-q', 'postgres' ], 'pgbench data loaded');
$node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
PgbkTest::switch_and_wait_archived($node);

sub write_wal
{
	my ($rounds) = @_;
	for (1 .. $rounds) {
		$node->command_ok([ 'pgbench', '-t', '300', '-c', '2', '-j', '2', 'postgres' ], 'pgbench');
		$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
	}
}

# The file system fills up.
open(my $fh, '>', $filler) or die "cannot create $filler: $!";
my $chunk = "\0" x (1 << 20);
1 while syswrite($fh, $chunk);
like("$!", qr/No space left on device/, 'the repository\'s file system is full');
close $fh;
write_wal(3);
ok($node->poll_query_until('postgres', 'SELECT spool_segments >= 3 AND pending_segments = 0 FROM pgbk_archive_status'),
	'with the repository full, WAL goes to the spool and nothing waits in pg_wal')
  or diag($node->safe_psql('postgres', 'SELECT * FROM pgbk_archive_status'));
like($node->safe_psql('postgres', 'SELECT last_failure FROM pgbk_archive_status'),
	qr/^spooled \(\d+ files, \d+ MB in the spool\): .*No space left on device/, 'pgbk_archive_status says why');
unlink $filler;
ok($node->poll_query_until('postgres', 'SELECT spool_segments = 0 FROM pgbk_archive_status'),
	'the spool drains once there is space again');

# The repository's directory goes away (an unmounted volume), then comes back.
rename $repo, "$repo.away" or die "rename: $!";
write_wal(2);
ok($node->poll_query_until('postgres', 'SELECT spool_segments >= 2 AND pending_segments = 0 FROM pgbk_archive_status'),
	'with the repository missing, WAL goes to the spool');
like($node->safe_psql('postgres', 'SELECT last_failure FROM pgbk_archive_status'), qr/is missing/,
	'pgbk_archive_status says the repository is missing');
ok(!-e $repo, 'no empty repository is created in its place');
rename "$repo.away", $repo or die "rename back: $!";
ok($node->poll_query_until('postgres', 'SELECT spool_segments = 0 FROM pgbk_archive_status'),
	'the spool drains once the repository is back');

PgbkTest::switch_and_wait_archived($node);
command_like([ 'pgbk', '--repo', $repo, 'verify' ], qr/^archive: continuous from /m,
	'every segment reached the repository: the archive is continuous');
my $expected = PgbkTest::table_digests($node);
$node->stop;
my $restored = PgbkTest::restore_and_start($repo, 'local_outages_restored');
is_deeply(PgbkTest::table_digests($restored), $expected, 'a restore replays everything: nothing was lost');
$restored->stop;

done_testing();
