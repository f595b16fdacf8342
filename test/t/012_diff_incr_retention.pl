# Differential and incremental backups end to end, and retention: a chain of backups
# between rounds of pgbench; each backup restores (combined with its priors) to exactly
# the data it saw; expiry under several policies removes whole chains and old WAL and
# leaves every kept backup restorable.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

# Removal in the run that selects (pgbk.expire_delay = 0): the delay itself is tested in
# pg_regress (backup.sql, production default) and in the unit tests.
my $node = PgbkTest::new_node('chain', extra_conf => "pgbk.expire_delay = 0\n");
my $repo = PgbkTest::repo($node);
$node->command_ok([ 'pgbench', '-i', '-s', '5', '-q', 'postgres' ], 'pgbench data loaded');

my %state; # label => table digests at the backup's end
sub backup
{
	my ($type) = @_;
	my $label = $node->safe_psql('postgres', "SELECT pgbk_backup_now('$type', wait => true)");
	$state{$label} = PgbkTest::table_digests($node);
	return $label;
}
sub row
{
	my ($label, $cols) = @_;
	return $node->safe_psql('postgres', "SELECT $cols FROM pgbk_backups WHERE label = '$label'");
}
sub pgbench_round
{
	$node->command_ok([ 'pgbench', '-n', '-c', '2', '-t', '300', 'postgres' ], 'a round of pgbench');
}

# With nothing to take it against, an incremental becomes a full backup and says why.
my $f1 = backup('incr');
like($f1, qr/F$/, 'the first backup, requested as incremental, is labelled full');
is(row($f1, 'type'), 'full', 'and is a full backup');
like($node->safe_psql('postgres', "SELECT kind || ': ' || note FROM pgbk_jobs WHERE label = '$f1'"),
	qr/^full: requested an incremental; taken as a full backup because there is no complete backup in the repository/,
	'the job says why');

pgbench_round();
my $i1 = backup('incr');
pgbench_round();
my $d1 = backup('diff');
pgbench_round();
my $i2 = backup('incr');
# About 1% of the accounts, one contiguous range: few pages change.
$node->safe_psql('postgres', 'UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid BETWEEN 1000 AND 6000');
my $i3 = backup('incr');

is(row($i1, "type || ' ' || prior"), "incr $f1", 'the incremental is against the full backup');
is(row($d1, "type || ' ' || prior"), "diff $f1", 'the differential is against the newest full backup');
is(row($i2, "type || ' ' || prior"), "incr $d1", 'an incremental is against the newest backup of any type');
is(row($i3, "type || ' ' || prior"), "incr $i2", 'and the next against that one');
my ($full_stored, $full_db) = split /\|/, row($f1, "stored_bytes || '|' || database_bytes");
my $i3_stored = row($i3, 'stored_bytes');
cmp_ok($i3_stored, '<', $full_stored / 10,
	"the incremental after a 1% change stores under a tenth of the full ($i3_stored vs $full_stored bytes)");
cmp_ok(row($i3, 'database_bytes'), '>=', $full_db, 'and describes the whole database');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pgbk_verify()'), '0', 'every backup of the chain verifies');

# Each backup restores, combined with its priors, to the data at its end.
for my $label ($f1, $i1, $d1, $i2, $i3)
{
	my $r = PgbkTest::restore_to_backup_end($repo, "restored_$label", $label);
	is_deeply(PgbkTest::table_digests($r), $state{$label}, "$label restores to the data at its end");
	$r->stop;
	$r->clean_node;
}

# A second chain.
pgbench_round();
my $f2 = backup('full');
pgbench_round();
my $d2 = backup('diff');
my $i4 = backup('incr');
is(row($d2, 'prior'), $f2, 'a differential after a new full backup is against it');

sub expire
{
	my $rows = $node->safe_psql('postgres', "SELECT kind || ' ' || name || ' ' || coalesce(type, '') FROM pgbk_expire()");
	return [ sort split /\n/, $rows ];
}
sub labels
{
	return [ split /\n/, $node->safe_psql('postgres', 'SELECT label FROM pgbk_backups ORDER BY started_at') ];
}
sub oldest_wal
{
	my @names;
	opendir(my $dh, "$repo/wal") or die;
	for my $d (grep { /^[0-9A-F]{16}$/ } readdir $dh)
	{
		opendir(my $sh, "$repo/wal/$d") or die;
		push @names, grep { /^[0-9A-F]{24}$/ } readdir $sh;
	}
	return (sort @names)[0];
}

# A time window holding every backup removes no backup, only the WAL from before the
# first backup, which no backup needs.
$node->safe_psql('postgres', "SELECT pgbk_set_retention(7, 'time')");
my $f1_wal_start = row($f1, 'wal_start');
my @seven = @{ expire() };
is_deeply([ grep { !/^wal / } @seven ], [], 'seven days: every backup is inside the window, none expires');
is(oldest_wal(), $f1_wal_start, "WAL from the first backup's start ($f1_wal_start) on is kept, older WAL gone");

# One differential per full: the older differential goes with what depends on it.
$node->safe_psql('postgres', "SELECT pgbk_set_retention(2, 'count', 1)");
my $wal_before = oldest_wal();
is_deeply(expire(), [ sort("backup $d1 diff", "backup $i2 incr", "backup $i3 incr") ],
	'retention_diff = 1 expires the older differential and the incrementals on it');
is_deeply(labels(), [ $f1, $i1, $f2, $d2, $i4 ], 'the rest stays, in time order');
ok(!-e "$repo/backup/$d1" || !glob("$repo/backup/$d1/*"), 'nothing of the expired differential is left');
is(oldest_wal(), $wal_before, 'the oldest full backup still needs all its WAL');

# One full backup: the first chain goes, and the WAL only it needed.
$node->safe_psql('postgres', "SELECT pgbk_set_retention(1)");
my @removed = @{ expire() };
is_deeply([ grep { /^backup/ } @removed ], [ sort("backup $f1 full", "backup $i1 incr") ],
	'retention_full = 1 expires the older full backup with its incremental');
is(scalar(grep { /^wal / } @removed), 1, 'and reports the WAL it removed');
my $f2_wal_start = row($f2, 'wal_start');
is(oldest_wal(), $f2_wal_start, "WAL before the kept full backup's start ($f2_wal_start) is gone, from it on kept");
is($node->safe_psql('postgres', 'SELECT count(*) FROM pgbk_verify()'), '0', 'the kept backups verify');
command_ok([ 'pgbk', '--repo', $repo, 'verify' ], 'pgbk verify agrees');
for my $label ($d2, $i4)
{
	my $r = PgbkTest::restore_to_backup_end($repo, "kept_$label", $label);
	is_deeply(PgbkTest::table_digests($r), $state{$label}, "kept $label still restores to its data");
	$r->stop;
	$r->clean_node;
}

# Expiry runs after each backup: a new full backup takes the previous chain with it.
pgbench_round();
my $f3 = backup('full');
like($node->safe_psql('postgres', "SELECT note FROM pgbk_jobs WHERE label = '$f3'"),
	qr/expired incr backup $i4 .*expired diff backup $d2 .*expired full backup $f2 .*expired \d+ WAL file/,
	'the backup job notes what the expiry after it removed, dependents first');
is_deeply(labels(), [$f3], 'only the new full backup is left');
PgbkTest::switch_and_wait_archived($node);
my $expected = PgbkTest::table_digests($node);
$node->stop;
my $r = PgbkTest::restore_and_start($repo, 'latest');
is_deeply(PgbkTest::table_digests($r), $expected, 'the latest backup restores and replays to the end');
$r->stop;

done_testing();
