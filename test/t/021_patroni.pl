# pgbk in a real Patroni cluster (issue 13): etcd and three Patroni nodes on loopback,
# the same pgbk settings on every node (Patroni's cluster-wide parameters) and one
# repository. Replicas are built from the repository (Patroni's create_replica_methods),
# backups run on standbys, scheduled runs are claimed by exactly one node, and
# switchover, a crash failover with split brain and the old primary's rejoin leave
# nothing in the restore path but the surviving primary's history.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use PgbkTest;
use PgbkPatroni;

my $ha = PgbkPatroni->new;
my $repo = $ha->repo;

# The first node bootstraps the cluster.
$ha->add_node('n1');
$ha->wait_primary('n1', 'Patroni bootstraps n1 as the primary');
$ha->safe_psql('n1', 'CREATE EXTENSION pgbk');
command_ok([ 'pgbench', '-i', '-s', '4', '-q', '-h', '127.0.0.1', '-p', $ha->port('n1'), '-U', 'postgres', 'postgres' ],
	'pgbench data on the primary');
my $full = $ha->safe_psql('n1', 'SELECT pgbk_backup_now(wait => true)');
like($full, qr/F$/, 'a full backup on the primary');

# Replicas come from the repository, not from the primary (create_replica_methods: pgbk).
$ha->add_node('n2');
$ha->wait_replica('n2', 'n2 is built by the pgbk replica method and streams');
like(PostgreSQL::Test::Utils::slurp_file($ha->log_file('n2')), qr/replica has been created using pgbk$/m,
	'n2 was created by the pgbk method (restore --standby from the repository)');
like(PostgreSQL::Test::Utils::slurp_file($ha->log_file('n2')), qr/restored backup \Q$full\E/,
	'from the full backup');
$ha->add_node('n3');
$ha->wait_replica('n3', 'n3 too');

# A backup on a standby: taken there, its WAL from the primary's archiving.
my $on_standby = $ha->safe_psql('n2', "SELECT pgbk_backup_now('incr')");
my $switched = 0;
PgbkTest::wait_for(sub {
	if (time() > $switched + 1) {
		$ha->safe_psql('n1', "SELECT pg_switch_wal() FROM (SELECT txid_current()) x");
		$switched = time();
	}
	return $ha->safe_psql('n2', "SELECT state FROM pgbk_jobs WHERE label = '$on_standby'") !~ /^(queued|running)$/;
}, 'a backup requested on standby n2 runs there');
is($ha->safe_psql('n2', "SELECT state || coalesce(error, '') FROM pgbk_jobs WHERE label = '$on_standby'"), 'succeeded',
	'and succeeds');
like($ha->safe_psql('n1', "SELECT type || ' ' || from_standby || ' ' || taken_on || ' ' || prior FROM pgbk_backups WHERE label = '$on_standby'"),
	qr/^incr true [^:]+:\Q@{[ $ha->data_dir('n2') ]}\E \Q$full\E$/, 'every node lists it as n2\'s incremental on the full backup');


# Two standbys race for each scheduled run: exactly one claims it in the repository and
# takes the backup; the other one and the primary leave it (pgbk.backup_standby = prefer).
# A standby cannot switch WAL: its backup ends once the primary's archive_timeout (as
# docs/high-availability.md advises) or the load fills the segment it stops in.
my $load = $ha->start_pgbench('n1');
$ha->patch_config('n1', { postgresql => { parameters => {
	'pgbk.backup_standby' => 'prefer', 'pgbk.incr_schedule' => '* * * * *', 'pgbk.test_primary_grace' => '5s',
	archive_timeout => '10s' } } });
foreach my $n ('n1', 'n2', 'n3') {
	PgbkTest::wait_for(sub { $ha->safe_psql($n, 'SHOW pgbk.incr_schedule') eq '* * * * *' }, "$n reloads the schedule");
}
like($ha->safe_psql('n2', "SELECT runs_on FROM pgbk_schedule WHERE kind = 'incr'"),
	qr/^a streaming standby with replay lag under 60 s \(this server if it qualifies\), else the primary$/,
	'pgbk_schedule on a standby says where the run is expected');
like($ha->safe_psql('n1', "SELECT runs_on FROM pgbk_schedule WHERE kind = 'incr'"),
	qr/else this server \(the primary\) after 120 s$/, 'and on the primary');
my @claims;
PgbkTest::wait_for(sub { @claims = glob("$repo/schedule/incr/*"); @claims > 0 }, 'a scheduled run is claimed');
my $claim = JSON::PP::decode_json(PgbkTest::stored_object_content($claims[0]));
ok($claim->{standby}, 'by a standby');
my $slot_time = $claim->{slot};
my $scheduled;
PgbkTest::wait_for(sub {
	$scheduled = $ha->safe_psql('n1', "SELECT string_agg(label || ' ' || status || ' ' || taken_on, ',') FROM pgbk_backups WHERE started_at >= to_timestamp($slot_time) AND from_standby");
	return $scheduled =~ /complete/;
}, 'the standby that claimed it takes the backup');
my @taken = split /,/, $scheduled;
is(scalar(@taken), 1, 'exactly one backup for the slot');
# A claim names its node as host:data directory [node id] (taken_on has no id).
like($claim->{holder}, qr/^[^:]+:\S+ \[[0-9a-f]{8}\]$/, 'the claim names the node with its id');
(my $holder_dir = $claim->{holder}) =~ s/ \[[0-9a-f]{8}\]$//;
like($taken[0], qr/ complete \Q$holder_dir\E$/, 'taken by the node that holds the claim');
my ($loser) = grep { index($claim->{holder}, $ha->data_dir($_)) < 0 } ('n2', 'n3');
PgbkTest::wait_for(sub {
	PostgreSQL::Test::Utils::slurp_file($ha->log_file($loser)) =~ /scheduled incr backup taken by another node: \Q$claim->{holder}\E \(a standby\)/;
}, 'the other standby leaves it, naming the winner');
PgbkTest::wait_for(sub {
	PostgreSQL::Test::Utils::slurp_file($ha->log_file('n1')) =~ /scheduled incr backup taken by a standby/;
}, 'the primary leaves it after its grace period');
$ha->patch_config('n1', { postgresql => { parameters => {
	'pgbk.backup_standby' => undef, 'pgbk.incr_schedule' => undef, 'pgbk.test_primary_grace' => undef,
	archive_timeout => undef } } });
foreach my $n ('n1', 'n2', 'n3') {
	PgbkTest::wait_for(sub { $ha->safe_psql($n, 'SHOW pgbk.incr_schedule') eq '' }, "$n drops the schedule");
}
$ha->finish_pgbench($load);

# Switchover: n2 becomes the primary, n1 follows it.
$ha->switchover('n1', 'n2');
$ha->wait_primary('n2', 'switchover: n2 is the primary');
$ha->wait_replica('n1', 'n1 streams from it');
my $after_switchover = $ha->safe_psql('n2', "SELECT pgbk_backup_now('incr', wait => true)");
like($ha->safe_psql('n2', "SELECT type || ' ' || timeline || ' ' || coalesce(prior, '') FROM pgbk_backups WHERE label = '$after_switchover'"),
	qr/^incr 2 \d{8}-\d{6}[FDI]$/, 'the incremental after the switchover is incremental, on timeline 2');
$ha->safe_psql('n2', "CREATE TABLE marks (phase text, at timestamptz DEFAULT clock_timestamp())");
$ha->safe_psql('n2', "INSERT INTO marks VALUES ('target')");
my $target = $ha->safe_psql('n2', "SELECT clock_timestamp()");
$ha->safe_psql('n2', "INSERT INTO marks VALUES ('after target')");
$ha->switch_and_wait_archived('n2');
my $expect = $ha->table_digests('n2');
# Copies restored from a live cluster's repository are clones: promoted into it, a copy
# would be a new timeline that supersedes the primary.
my $latest = PgbkTest::restore_and_start($repo, 'switchover_latest', '--clone');
is_deeply(PgbkTest::table_digests($latest), $expect, 'restore latest after the switchover holds the primary\'s data');
$latest->stop;
my $pitr = PgbkTest::restore_and_start($repo, 'switchover_pitr', '--target-time', $target, '--clone');
is($pitr->safe_psql('postgres', "SELECT string_agg(phase, ',' ORDER BY at) FROM marks"), 'target',
	'a point-in-time restore after the switchover stops at the target');
$pitr->stop;

# Crash failover: n2's Patroni dies under load while its PostgreSQL keeps running and
# accepting writes (split brain). n1 or n3 is promoted.
$load = $ha->start_pgbench('n2');
$ha->safe_psql('n2', "SELECT count(*) FROM pgbench_history");
$ha->kill_patroni('n2');
my $killed = time();
my $new;
PgbkTest::wait_for(sub {
	($new) = grep { $ha->is_primary($_) } ('n1', 'n3');
	return defined $new;
}, 'crash failover: another node is promoted');
my $promoted = time();
my $new_load = $ha->start_pgbench($new);
my $hex = sprintf('%08X', 3);
PgbkTest::wait_for(sub { -e "$repo/wal/$hex.history" }, 'the new primary archives its history file');
my $history_at = time();
my $first_segment;
PgbkTest::wait_for(sub {
	foreach my $d (glob("$repo/wal/$hex*")) { foreach my $f (glob("$d/*")) { $first_segment //= $f if $f =~ m{/$hex[0-9A-F]{16}$}; } }
	return defined $first_segment;
}, 'and its first full segment on timeline 3');
my $segment_at = time();
my $first_backup = $ha->safe_psql($new, "SELECT pgbk_backup_now('incr', wait => true)");
my $backup_at = time();
like($ha->safe_psql($new, "SELECT type || ' ' || timeline FROM pgbk_backups WHERE label = '$first_backup'"),
	qr/^incr 3$/, 'the first backup after the failover is an incremental on timeline 3');
note(sprintf('failover timings: Patroni killed -> promoted %.1f s; promoted -> history file archived %.1f s, '
	. '-> first full segment archived %.1f s, -> first backup (incremental) complete %.1f s',
	$promoted - $killed, $history_at - $promoted, $segment_at - $promoted, $backup_at - $promoted));

# The old primary keeps writing on timeline 2: fenced.
$ha->safe_psql('n2', "INSERT INTO marks VALUES ('split brain')");
my $past_fork = $ha->safe_psql('n2', "SELECT pg_walfile_name(pg_switch_wal())");
PgbkTest::wait_for(sub {
	$ha->safe_psql('n2', "SELECT coalesce(last_failure ~ 'timeline 3 in the repository forked off timeline 2 at', false) FROM pgbk_archive_status") eq 't';
}, 'the old primary stores no WAL past the fork, naming both timelines');
my ($rc, $out, $err) = $ha->psql('n2', "SELECT pgbk_backup_now(wait => true)");
like($err, qr/this server takes no backup: timeline 3 in the repository forked off timeline 2/,
	'and starts no backup');
$ha->finish_pgbench($load);

# What the split brain left in the repository: nothing past the fork on timeline 2.
my $history = PostgreSQL::Test::Utils::tempdir() . "/$hex.history";
command_ok([ 'pgbk', '--repo', $repo, 'wal-fetch', "$hex.history", $history ], 'the new timeline\'s history file');
my ($fork_lsn) = PostgreSQL::Test::Utils::slurp_file($history) =~ /^2\s+(\S+)/m;
my ($hi, $lo) = map { hex } split m{/}, $fork_lsn;
my $fork_segno = int(($hi * 2**32 + $lo) / (16 * 1024 * 1024));
my @past = grep {
	my ($name) = m{/([0-9A-F]{24})$};
	$name && hex(substr($name, 16, 8)) + hex(substr($name, 8, 8)) * 256 > $fork_segno;
} map { glob("$_/*") } glob("$repo/wal/00000002*");
is(scalar(@past), 0, "no segment of timeline 2 past the fork ($fork_lsn) is in the repository");
my $split_backups = $ha->safe_psql($new, "SELECT count(*) FROM pgbk_backups WHERE timeline = 2 AND started_at > to_timestamp($killed)");
is($split_backups, '0', 'and no backup of the old primary after the failover');
my $fenced = $ha->safe_psql('n2', "SELECT pending_segments FROM pgbk_archive_status");
note("split brain left in the repository: " . scalar(@past) . " segment(s) past the fork, $split_backups backup(s); "
	. "$fenced segment(s) wait unacknowledged in the old primary's pg_wal");

$ha->finish_pgbench($new_load);
$ha->switch_and_wait_archived($new);
$expect = $ha->table_digests($new);
$latest = PgbkTest::restore_and_start($repo, 'failover_latest', '--clone');
is_deeply(PgbkTest::table_digests($latest), $expect, 'restore latest after the failover holds exactly the new primary\'s data');
is($latest->safe_psql('postgres', "SELECT count(*) FROM marks WHERE phase = 'split brain'"), '0',
	'and nothing the old primary wrote after the fork');
$latest->stop;
$pitr = PgbkTest::restore_and_start($repo, 'failover_pitr', '--target-time', $target, '--clone');
is($pitr->safe_psql('postgres', "SELECT string_agg(phase, ',' ORDER BY at) FROM marks"), 'target',
	'a point-in-time restore to before the failover still reaches its target');
$pitr->stop;

# The old primary rejoins: Patroni archives its .ready files through wal-push (the ones
# past the fork are refused), rewinds it and makes it a replica of the new primary.
$ha->stop_postgres('n2');
$ha->start_patroni('n2');
$ha->wait_replica('n2', 'the old primary rejoins as a replica (pg_rewind)');
my $n2_log = PostgreSQL::Test::Utils::slurp_file($ha->log_file('n2'));
SKIP:
{
	skip 'PostgreSQL 16 and later archive with archive_library alone: no pre-rewind wal-push', 2
	  if $ha->major >= 16;
	like($n2_log, qr/Trying to archive \S+: .*wal-push/, 'Patroni archived its .ready files through pgbk wal-push');
	like($n2_log,
		qr/Trying to archive (\S+): [^\n]*wal-push[^\n]*\npgbk: error: WAL file \1 is not stored: timeline 3 in the repository forked off timeline 2 at/,
		'which refused the ones past the fork');
}
@past = grep {
	my ($name) = m{/([0-9A-F]{24})$};
	$name && hex(substr($name, 16, 8)) + hex(substr($name, 8, 8)) * 256 > $fork_segno;
} map { glob("$_/*") } glob("$repo/wal/00000002*");
is(scalar(@past), 0, 'still nothing past the fork in the repository');
command_like([ 'pgbk', '--repo', $repo, 'verify' ], qr/^archive: continuous from /m,
	'pgbk verify: every backup intact and the archive continuous along the surviving history');

done_testing();
