# Point-in-time recovery from nothing but the repository: marked points (a restore
# point, a recorded time, an LSN, a transaction id) with writes between them; a restore
# to each holds exactly the data recorded there. Without --backup the newest backup
# that reaches the target is used; a target no backup reaches is refused with the range.
# Then across a timeline switch: restore in place, promote, write, back up, and restore
# to a point on the new timeline.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

my $node = PgbkTest::new_node('pitr');
my $repo = PgbkTest::repo($node);
$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench data loaded');
$node->safe_psql('postgres', 'CREATE TABLE marks (id int PRIMARY KEY, phase text)');
my $before_first = $node->safe_psql('postgres', "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS+00')");
my $b1 = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');

my $next = 0;
sub write_phase
{
	my ($phase) = @_;
	my $from = $next + 1;
	$next += 100;
	$node->safe_psql('postgres', "INSERT INTO marks SELECT g, '$phase' FROM generate_series($from, $next) g");
	$node->command_ok([ 'pgbench', '-n', '-t', '100', 'postgres' ], "pgbench writes ($phase)");
}

my %expect;
write_phase('a');
$node->safe_psql('postgres', "SELECT pg_create_restore_point('before_b')");
$expect{name} = PgbkTest::table_digests($node);
write_phase('b');
my $time = $node->safe_psql('postgres', "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00')");
$expect{time} = PgbkTest::table_digests($node);
write_phase('c');
# A second backup: later targets are reached from it, earlier ones from the first.
my $b2 = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
write_phase('d');
my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
$expect{lsn} = PgbkTest::table_digests($node);
write_phase('e');
my $xid = $node->safe_psql('postgres',
	"BEGIN; INSERT INTO marks VALUES (100000, 'xid'); SELECT txid_current(); COMMIT;");
$expect{xid} = PgbkTest::table_digests($node);
write_phase('f');
$expect{end} = PgbkTest::table_digests($node);
PgbkTest::switch_and_wait_archived($node);

sub restore_to
{
	my ($name, $expected_backup, @target) = @_;
	my $r = PostgreSQL::Test::Cluster->new("pitr_$name");
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'pgbk', '--repo', $repo, 'restore', '--pgdata', $r->data_dir, '--clone', @target ],
		'>', \$out, '2>', \$err);
	ok($ok, "restore to the $name target") or diag($err);
	like($out, qr/restored backup \Q$expected_backup\E /, "the $name target is reached from backup $expected_backup");
	like($out, qr/archives nowhere/, 'a clone says it archives nowhere');
	$r->append_conf('postgresql.conf', "port = " . $r->port . "\nunix_socket_directories = '" . $r->host . "'\n");
	$r->start;
	$r->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
	  or die "restored cluster $name did not finish recovery";
	return $r;
}

my %targets = (
	name => [ $b1, '--target-name', 'before_b' ],
	time => [ $b1, '--target-time', $time ],
	lsn => [ $b2, '--target-lsn', $lsn ],
	xid => [ $b2, '--target-xid', $xid ],);
for my $name (sort keys %targets)
{
	my ($backup, @target) = @{ $targets{$name} };
	my $r = restore_to($name, $backup, @target);
	is_deeply(PgbkTest::table_digests($r), $expect{$name}, "the $name target holds exactly the data recorded there");
	is($r->safe_psql('postgres', 'SHOW archive_mode'), 'off', "the $name clone does not archive");
	$r->stop;
	$r->clean_node;
}

# Delta restore: a stale copy (the first backup, recovered and then written to) is
# brought to the LSN target in place and holds the same data as a full restore.
my $stale = restore_to('stale', $b1, '--backup', $b1, '--target-immediate');
$stale->safe_psql('postgres', "CREATE TABLE only_in_the_stale_copy AS SELECT g FROM generate_series(1, 10000) g");
$stale->safe_psql('postgres', "UPDATE marks SET phase = 'drifted'");
$stale->stop;
{
	my ($out, $err) = ('', '');
	ok(IPC::Run::run([ 'pgbk', '--repo', $repo, 'restore', '--delta', '--pgdata', $stale->data_dir, '--clone',
			'--target-lsn', $lsn ], '>', \$out, '2>', \$err), 'delta restore over the stopped stale copy')
	  or diag($err);
	like($out, qr/restored backup \Q$b2\E .*delta: .* already matched and were kept, .* rewritten, \d+ entries/s,
		'it reports what it kept, rewrote and removed');
	$stale->append_conf('postgresql.conf',
		"port = " . $stale->port . "\nunix_socket_directories = '" . $stale->host . "'\n");
	$stale->start;
	$stale->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'delta-restored copy did not recover';
	is_deeply(PgbkTest::table_digests($stale), $expect{lsn}, 'the delta-restored copy holds the same data as a full restore');
	$stale->stop;
}

# No backup ends before this time: refused, saying what can be restored.
my $early = PostgreSQL::Test::Cluster->new('pitr_early');
my ($out, $err) = ('', '');
ok(!IPC::Run::run([ 'pgbk', '--repo', $repo, 'restore', '--pgdata', $early->data_dir, '--target-time', $before_first ],
		'>', \$out, '2>', \$err), 'a target before every backup is refused');
like($err, qr/no backup .* can reach the target: the earliest restorable time is .* \(end of backup \Q$b1\E\)/,
	'the error says which range is restorable');
ok(!-e $early->data_dir . '/global/pg_control', 'and nothing was restored');
like(`pgbk --repo $repo restore --pgdata /nonexistent/x --target-time 'yesterday' 2>&1`, qr/--target-time "yesterday": .*2026-11-21 10:15:00\+00/,
	'a malformed target names the option and the fix');

# Timelines: the primary is gone and a restore takes the cluster over (--takeover),
# promotes onto timeline 2, writes and backs up there; then restore to a point on
# timeline 2.
$node->stop;
my $inplace = PgbkTest::restore_and_start($repo, 'pitr_inplace', '--target-name', 'before_b', '--takeover');
is($inplace->safe_psql('postgres', 'SELECT timeline_id FROM pg_control_checkpoint()'), '2', 'promoted onto timeline 2');
is_deeply(PgbkTest::table_digests($inplace), $expect{name}, 'in-place recovery to the restore point');
$inplace->safe_psql('postgres', "INSERT INTO marks SELECT g, 'tl2' FROM generate_series(50000, 50099) g");
my $b3 = $inplace->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
like(`pgbk --repo $repo list`, qr/^\Q$b3\E\s+full\s+complete\s.*\s2\s+[\d.]+ \S+\s+[\d.]+ \S+$/m, 'pgbk list shows the backup on timeline 2');
$inplace->safe_psql('postgres', "INSERT INTO marks SELECT g, 'tl2' FROM generate_series(50100, 50199) g");
my $tl2_lsn = $inplace->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
my $tl2_expect = PgbkTest::table_digests($inplace);
$inplace->safe_psql('postgres', "INSERT INTO marks SELECT g, 'tl2-late' FROM generate_series(50200, 50299) g");
PgbkTest::switch_and_wait_archived($inplace);
ok(-e "$repo/wal/00000002.history", 'the history file of timeline 2 is in the repository');
like(`pgbk --repo $repo list`, qr/^timelines: 1, 2 \(from 1 at [0-9A-F]+\/[0-9A-F]+\); restores follow timeline 2$/m, 'pgbk list shows the timelines');
$inplace->stop;

my $tl2 = restore_to('tl2', $b3, '--target-lsn', $tl2_lsn, '--target-timeline', '2');
is($tl2->safe_psql('postgres', "SELECT count(*) FROM marks WHERE phase = 'tl2'"), '200', 'timeline 2 writes up to the LSN');
is_deeply(PgbkTest::table_digests($tl2), $tl2_expect, 'restore to a point on timeline 2 holds exactly its data');
$tl2->stop;

# From the first backup (timeline 1), following the history to timeline 2.
my $follow = restore_to('follow', $b1, '--backup', $b1, '--target-lsn', $tl2_lsn, '--target-timeline', 'latest');
is_deeply(PgbkTest::table_digests($follow), $tl2_expect,
	'a timeline 1 backup replays across the switch to the point on timeline 2');
$follow->stop;

done_testing();
