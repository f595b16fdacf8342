# Timeline fencing (issue 13): a primary and a streaming standby share one repository.
# The standby is promoted while the old primary keeps running and taking writes (split
# brain). The repository's history files are the authority: the old primary stores no
# WAL past the fork, starts no backup and removes nothing, and says why; the new
# primary's first incremental after the promotion stays incremental; a plain restore
# follows the new primary's timeline and holds none of the old primary's later writes.
use strict;
use warnings;

use File::Find;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;
use IPC::Run;

my $primary = PgbkTest::new_node('primary', allows_streaming => 1);
my $repo = PgbkTest::repo($primary);
$primary->safe_psql('postgres', "ALTER SYSTEM SET pgbk.repository = '$repo'");
$primary->reload;
$primary->safe_psql('postgres', "CREATE TABLE t (id int, phase text)");
$primary->safe_psql('postgres', "INSERT INTO t SELECT g, 'before' FROM generate_series(1, 10000) g");
my $full = $primary->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
like($full, qr/F$/, 'a full backup on the primary');

# The standby: same settings, same repository.
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->safe_psql('postgres', "INSERT INTO t SELECT g, 'streamed' FROM generate_series(10001, 12000) g");
$primary->wait_for_catchup($standby);
# A backup on the standby is taken there; the WAL up to its stop point reaches the
# repository through the primary's archiving (a switch there completes its last segment).
my $on_standby = $standby->safe_psql('postgres', "SELECT pgbk_backup_now('incr')");
my $last_switch = 0;
PgbkTest::wait_for(sub {
	if (time() > $last_switch) {
		$primary->safe_psql('postgres', "INSERT INTO t VALUES (0, 'switch'); SELECT pg_switch_wal()");
		$last_switch = time();
	}
	return $standby->safe_psql('postgres', "SELECT state FROM pgbk_jobs WHERE label = '$on_standby'") !~ /^(queued|running)$/;
}, 'a backup requested on the standby runs there');
is($standby->safe_psql('postgres', "SELECT state || ' ' || coalesce(error, '') FROM pgbk_jobs WHERE label = '$on_standby'"),
	'succeeded ', 'and succeeds');
is($standby->safe_psql('postgres', "SELECT from_standby AND taken_on LIKE '%:' || current_setting('data_directory') FROM pgbk_backups WHERE label = '$on_standby'"),
	't', 'pgbk_backups says it was taken on this standby');
is($standby->safe_psql('postgres', "SELECT prior FROM pgbk_backups WHERE label = '$on_standby'"), $full,
	'an incremental against the primary\'s full backup');
# The fork lies inside a segment (a promotion right after a switch would leave no partial).
$primary->safe_psql('postgres', "INSERT INTO t SELECT g, 'streamed' FROM generate_series(12001, 12100) g");
$primary->wait_for_catchup($standby);
my ($ret, $out, $err);

# Failover: the standby is promoted; the old primary is not told and keeps writing.
$standby->promote;
PgbkTest::wait_for(sub { -e "$repo/wal/00000002.history" }, 'the new primary archived its history file');
$standby->safe_psql('postgres', "INSERT INTO t SELECT g, 'new-primary' FROM generate_series(20001, 21000) g");
my $expect = PgbkTest::table_digests($standby);

$primary->safe_psql('postgres', "INSERT INTO t SELECT g, 'split-brain' FROM generate_series(30001, 40000) g");
my $past_fork = $primary->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
ok($primary->poll_query_until('postgres',
	"SELECT last_failed_wal = '$past_fork' AND last_failure ~ 'timeline 2 in the repository forked off timeline 1 at' FROM pgbk_archive_status"),
	'the old primary refuses to store WAL past the fork, naming both timelines and the fork point')
  or diag($primary->safe_psql('postgres', 'SELECT * FROM pgbk_archive_status'));
like(PostgreSQL::Test::Utils::slurp_file($primary->logfile), qr/was timeline 2 created by promoting a standby/,
	'and the log asks the question');
ok(-e $primary->data_dir . "/pg_wal/archive_status/$past_fork.ready", 'the segment stays in pg_wal, unacknowledged');
my ($stored, $partial) = (0, 0);
find(sub { $stored++ if $_ eq $past_fork; $partial++ if $_ eq "$past_fork.partial" }, "$repo/wal");
is($stored, 0, 'and is not in the repository');
is($partial, 1, 'where the new primary stored its part before the fork (.partial)');

($ret, $out, $err) = $primary->psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
isnt($ret, 0, 'the old primary starts no backup');
like($err, qr/this server takes no backup: timeline 2 in the repository forked off timeline 1/, 'and says why');
($ret, $out, $err) = $primary->psql('postgres', 'SELECT * FROM pgbk_expire()');
isnt($ret, 0, 'the old primary removes nothing');
like($err, qr/this server removes nothing: timeline 2 in the repository forked off timeline 1/, 'and says why');

# The new primary: the first incremental after the promotion is an incremental.
my $incr = $standby->safe_psql('postgres', "SELECT pgbk_backup_now('incr', wait => true)");
like($incr, qr/I$/, 'the first incremental after the promotion is incremental');
is($standby->safe_psql('postgres', "SELECT prior FROM pgbk_backups WHERE label = '$incr'"), $on_standby,
	'taken against the last backup from before the fork (the one taken on the standby)');
PgbkTest::switch_and_wait_archived($standby);
my $list = `pgbk --repo $repo list`;
like($list, qr/restores follow timeline 2$/m, 'pgbk list names the timeline restores follow');
like($list, qr/^archive: continuous from \S+ \(backup \Q$full\E\) to 00000002/m,
	'and finds no hole along its history (the old primary\'s WAL up to the fork, then timeline 2)');
like($list, qr/^\Q$incr\E .*\n    taken on: [^:\n]+:\Q@{[ $standby->data_dir ]}\E$/m, 'and which node took each backup');

# pgbk wal-push (archive_command; Patroni archives an old primary's .ready files with it
# before pg_rewind) is fenced the same way.
my $old_dir = $primary->data_dir;
my $push_out = `cd $old_dir && pgbk --config $old_dir/postgresql.conf wal-push pg_wal/$past_fork 2>&1`;
is($? >> 8, 6, 'wal-push refuses the old primary\'s segment past the fork (exit 6)');
like($push_out, qr/timeline 2 in the repository forked off timeline 1 at/, 'naming the fork');
# It stores a file as the archive module does: wal-fetch returns it intact.
$standby->safe_psql('postgres', "INSERT INTO t VALUES (0, 'push')");
my $segment = $standby->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
my $new_dir = $standby->data_dir;
my $repo2 = PostgreSQL::Test::Utils::tempdir() . '/pushed';
command_ok([ 'pgbk', '--repo', $repo2, 'wal-push', '--pgdata', $new_dir, "$new_dir/pg_wal/$segment" ],
	'wal-push stores a segment of the new primary');
my ($push_stdout, $push_stderr) = ('', '');
ok(IPC::Run::run([ 'pgbk', '--repo', $repo2, 'wal-push', '--pgdata', $new_dir, "$new_dir/pg_wal/$segment" ],
	'>', \$push_stdout, '2>', \$push_stderr), 'pushing it again succeeds');
like($push_stderr, qr/already archived with identical content/, 'as identical content');
my $fetched = PostgreSQL::Test::Utils::tempdir() . '/fetched';
command_ok([ 'pgbk', '--repo', $repo2, 'wal-fetch', $segment, $fetched ], 'and wal-fetch finds it');
is(PostgreSQL::Test::Utils::slurp_file($fetched), PostgreSQL::Test::Utils::slurp_file("$new_dir/pg_wal/$segment"),
	'with the same bytes');
IPC::Run::run([ 'pgbk', '--repo', $repo2, 'wal-push', '--pgdata', $new_dir, "$new_dir/postgresql.conf" ],
	'>', \$push_stdout, '2>', \$push_stderr);
like($push_stderr, qr/"postgresql.conf" is not the name of a WAL file/, 'a file not named as WAL is refused');

# A replica built from the repository (pgbk restore --standby) follows the new primary.
my $replica = PostgreSQL::Test::Cluster->new('replica');
command_ok([ 'pgbk', '--repo', $repo, 'restore', '--pgdata', $replica->data_dir, '--standby',
	'--primary-conninfo', $standby->connstr . ' application_name=replica' ], 'pgbk restore --standby');
ok(-e $replica->data_dir . '/standby.signal', 'writes standby.signal');
$replica->append_conf('postgresql.conf', "port = " . $replica->port . "\nunix_socket_directories = '" . $replica->host . "'\n");
$replica->start;
$standby->safe_psql('postgres', "INSERT INTO t SELECT g, 'after-replica' FROM generate_series(50001, 50100) g");
$standby->wait_for_catchup($replica);
is($replica->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the replica stays a standby');
is_deeply(PgbkTest::table_digests($replica), PgbkTest::table_digests($standby), 'and streams the primary\'s data');
$replica->stop;
PgbkTest::switch_and_wait_archived($standby);
$expect = PgbkTest::table_digests($standby);

# A plain restore reaches the new primary's data, nothing of the split brain's.
my $restored = PgbkTest::restore_and_start($repo, 'restored');
is_deeply(PgbkTest::table_digests($restored), $expect, 'a plain restore holds exactly the new primary\'s data');
is($restored->safe_psql('postgres', "SELECT count(*) FROM t WHERE phase = 'split-brain'"), '0',
	'and none of the old primary\'s writes after the fork');
$restored->stop;

# Restoring the full backup from before the fork, following the history, too.
# Both nodes are stopped after it: the restore takes the cluster over (--takeover).
my $from_full = PgbkTest::restore_and_start($repo, 'from_full', '--backup', $full, '--takeover');
is_deeply(PgbkTest::table_digests($from_full), $expect, 'the full from before the fork replays onto timeline 2');

$standby->stop;

# A backup whose taker dies (a crash, a failover, a pod rescheduled under another name) is
# cleaned up by another node once its lease expires. The taker is the latest copy, the
# one node here that is not superseded.
$from_full->safe_psql('postgres', "ALTER SYSTEM SET pgbk.test_file_delay = '500ms'");
$from_full->safe_psql('postgres', "ALTER SYSTEM SET pgbk.test_backup_lease = 3");
$from_full->reload;
my $slow = $from_full->safe_psql('postgres', 'SELECT pgbk_backup_now()');
PgbkTest::wait_for(sub { -e "$repo/backup/$slow/lease" }, 'a slow backup holds a lease');
is($from_full->safe_psql('postgres', "SELECT status FROM pgbk_backups WHERE label = '$slow'"), 'running',
	'pgbk_backups shows it running');
$from_full->stop('immediate');
my $cleaner = PgbkTest::restore_and_start($repo, 'cleaner', '--takeover');
my $status = sub {
	return $cleaner->safe_psql('postgres', "SELECT status || ': ' || coalesce(error, '') FROM pgbk_backups WHERE label = '$slow'");
};
PgbkTest::wait_for(sub {
	$cleaner->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
	return $status->() =~ /lease .* expired/;
}, 'once the lease expired, the next backup on another node marks the dead node\'s backup failed');
like($status->(), qr/^failed: interrupted: its lease \(held by .*from_full.*\) expired without the backup completing/,
	'saying why');
$cleaner->stop;

$primary->stop;
done_testing();
